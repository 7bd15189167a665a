package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseRef(t *testing.T) {
	dir := t.TempDir()
	lay := filepath.Join(dir, "lay")
	os.MkdirAll(lay, 0o755)
	os.WriteFile(filepath.Join(lay, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	tarFile := filepath.Join(dir, "img.tar")
	os.WriteFile(tarFile, nil, 0o644)
	t.Chdir(dir)

	good := []struct {
		in        string
		kind      refKind
		canonical string
		digest    string
	}{
		{"busybox", kindRegistry, "index.docker.io/library/busybox:latest", ""},
		{"ghcr.io/org/app:1.2", kindRegistry, "ghcr.io/org/app:1.2", ""},
		{"127.0.0.1:5000/app@sha256:" + zeros, kindRegistry, "127.0.0.1:5000/app@sha256:" + zeros, "sha256:" + zeros},
		{"oci:" + lay, kindLayout, "oci:" + lay, ""},
		{"oci:" + lay + ":v1", kindLayout, "oci:" + lay + ":v1", ""},
		{"oci-layout:lay:v2", kindLayout, "oci:" + lay + ":v2", ""},
		{"oci:./lay", kindLayout, "oci:" + lay, ""},
		{"docker-archive:" + tarFile, kindArchive, "docker-archive:" + tarFile, ""},
		{"docker-archive:" + tarFile + ":app:1", kindArchive, "docker-archive:" + tarFile + ":app:1", ""},
		{"docker-archive:img.tar:app", kindArchive, "docker-archive:" + tarFile + ":app", ""},
		{lay, kindLayout, "oci:" + lay, ""},
		{"./lay", kindLayout, "oci:" + lay, ""},
		{"lay", kindLayout, "oci:" + lay, ""}, // exists: a path
		{"img.tar", kindArchive, "docker-archive:" + tarFile, ""},
	}
	for _, tt := range good {
		r, err := parseRef(tt.in)
		if err != nil {
			t.Errorf("parseRef(%q): %v", tt.in, err)
			continue
		}
		if r.kind != tt.kind || r.canonical() != tt.canonical || (r.kind == kindRegistry && r.digest() != tt.digest) {
			t.Errorf("parseRef(%q) = kind %d, %q, digest %q; want %d, %q, %q", tt.in, r.kind, r.canonical(), r.digest(), tt.kind, tt.canonical, tt.digest)
		}
	}
	for _, in := range []string{"", "Bad Ref!", "app@sha256:short", "oci:", "docker-archive:", "./missing", dir} {
		if r, err := parseRef(in); err == nil {
			t.Errorf("parseRef(%q) = %+v, nil; want an error", in, r)
		}
	}
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{{"0", 0}, {"4096", 4096}, {"64K", 64 << 10}, {"512m", 512 << 20}, {"8G", 8 << 30}, {"1T", 1 << 40}}
	for _, tt := range good {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "G", "-1", "+1", "1.5G", "1GB", "lots", "99999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, nil; want an error", in, got)
		}
	}
}

func TestHexOf(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:" + zeros: zeros, zeros: "", "sha256:abc": "", "sha256:" + zeros[:63] + "g": "", "sha512:" + zeros: "",
	} {
		if got := hexOf(in); got != want {
			t.Errorf("hexOf(%q) = %q; want %q", in, got, want)
		}
	}
}
