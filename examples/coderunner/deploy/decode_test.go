package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// bundle is every object of the manifests, by kind. The checks need exactly
// one of each but the namespace-less RuntimeClass, which is optional.
type bundle struct {
	ns      *corev1.Namespace
	deploy  *appsv1.Deployment
	svc     *corev1.Service
	hpa     *autoscalingv2.HorizontalPodAutoscaler
	adapter *corev1.ConfigMap
	rc      []*nodev1.RuntimeClass
}

// deepCopy copies b, so that a control can change one setting without
// touching the bundle the other cases start from.
func (b *bundle) deepCopy() *bundle {
	c := &bundle{ns: b.ns.DeepCopy(), deploy: b.deploy.DeepCopy(), svc: b.svc.DeepCopy(),
		hpa: b.hpa.DeepCopy(), adapter: b.adapter.DeepCopy()}
	for _, rc := range b.rc {
		c.rc = append(c.rc, rc.DeepCopy())
	}
	return c
}

// decodeStrict turns one YAML document into the API type its apiVersion and
// kind name, refusing what the API server's strict field validation refuses:
// an unknown field, a field in the wrong case (encoding/json would accept
// "HostUsers" for "hostUsers"; the API server does not) and a duplicate key.
func decodeStrict(doc []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(doc) // duplicate keys are an error here
	if err != nil {
		return nil, err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "node.k8s.io/v1 RuntimeClass":
		obj = &nodev1.RuntimeClass{}
	default:
		return nil, fmt.Errorf("apiVersion %q kind %q: not a type these manifests use (add it to decodeStrict)", tm.APIVersion, tm.Kind)
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s: %w", tm.Kind, errors.Join(strict...))
	}
	return obj, nil
}

// decodeAll decodes every document of a multi-document YAML stream.
func decodeAll(data []byte) ([]any, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []any
	for i := 0; ; i++ {
		doc, err := r.Read()
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // a document of comments only
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		objs = append(objs, obj)
	}
}

// stripComments drops whole-line comments, to tell an empty document.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

// loadDir decodes every *.yaml file of dir into a bundle, failing on a file
// that does not decode and on a kind found twice or missing.
func loadDir(dir string) (*bundle, []string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	b := &bundle{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		objs, err := decodeAll(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		for _, o := range objs {
			if err := b.add(o); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
			}
		}
	}
	for what, missing := range map[string]bool{
		"Namespace": b.ns == nil, "Deployment": b.deploy == nil, "Service": b.svc == nil,
		"HorizontalPodAutoscaler": b.hpa == nil, "ConfigMap (prometheus-adapter rules)": b.adapter == nil,
	} {
		if missing {
			return nil, nil, fmt.Errorf("%s: no %s in the manifests", dir, what)
		}
	}
	return b, files, nil
}

func (b *bundle) add(o any) error {
	twice := func(kind string) error { return fmt.Errorf("a second %s: one is expected", kind) }
	switch o := o.(type) {
	case *corev1.Namespace:
		if b.ns != nil {
			return twice("Namespace")
		}
		b.ns = o
	case *appsv1.Deployment:
		if b.deploy != nil {
			return twice("Deployment")
		}
		b.deploy = o
	case *corev1.Service:
		if b.svc != nil {
			return twice("Service")
		}
		b.svc = o
	case *autoscalingv2.HorizontalPodAutoscaler:
		if b.hpa != nil {
			return twice("HorizontalPodAutoscaler")
		}
		b.hpa = o
	case *corev1.ConfigMap:
		if b.adapter != nil {
			return twice("ConfigMap")
		}
		b.adapter = o
	case *nodev1.RuntimeClass:
		b.rc = append(b.rc, o)
	default:
		return fmt.Errorf("unexpected %T", o)
	}
	return nil
}
