// Package kv is the interface between examples/pluginhost and its plugin,
// a key-value store served over go-plugin's gRPC transport.
//
// The gRPC service is written by hand (a grpc.ServiceDesc and a JSON codec)
// rather than generated from a .proto file, so that the example builds with
// the Go toolchain alone.
package kv

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// Handshake is what the host and the plugin check before they talk.
// The cookie keeps the plugin from being run by hand; it is no security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CORRAL_KV_PLUGIN",
	MagicCookieValue: "a5d5f7b2-kv",
}

// Name is the plugin's name in the host's and the plugin's plugin sets.
const Name = "kv"

// Store is what the plugin serves.
type Store interface {
	Put(ctx context.Context, key, value string) error
	Get(ctx context.Context, key string) (string, error)
	// Probe reports what the plugin can reach: the first bytes of the file
	// at path or why it could not read it, and whether a TCP connection to
	// addr succeeds. The example uses it to show the sandbox.
	Probe(ctx context.Context, path, addr string) (ProbeResult, error)
}

// ProbeResult is what Store.Probe found.
type ProbeResult struct {
	File string // the file's first bytes, or "error: ..."
	Dial string // "connected", or "error: ..."
}

// Plugin is the go-plugin plugin of a Store: the plugin serves Impl, the
// host gets a client.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Store // the plugin's store; nil in the host
}

// Plugins is the plugin set of the host and the plugin.
func Plugins(impl Store) plugin.PluginSet {
	return plugin.PluginSet{Name: &Plugin{Impl: impl}}
}

// GRPCServer registers the store with go-plugin's gRPC server.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, p.Impl)
	return nil
}

// GRPCClient returns a Store that calls the plugin.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &client{c}, nil
}

// The wire: one message type per call, JSON-encoded.
type (
	putRequest   struct{ Key, Value string }
	getRequest   struct{ Key string }
	getReply     struct{ Value string }
	probeRequest struct{ Path, Addr string }
	empty        struct{}
)

// codec encodes messages as JSON; it is chosen per call by the content
// subtype "json" (application/grpc+json).
type codec struct{}

func (codec) Marshal(v any) ([]byte, error)   { return json.Marshal(v) }
func (codec) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func (codec) Name() string                    { return "json" }
func init()                                   { encoding.RegisterCodec(codec{}) }
func call(ctx context.Context, c *grpc.ClientConn, method string, req, reply any) error {
	return c.Invoke(ctx, "/corral.kv.Store/"+method, req, reply, grpc.CallContentSubtype("json"))
}

type client struct{ c *grpc.ClientConn }

func (k *client) Put(ctx context.Context, key, value string) error {
	return call(ctx, k.c, "Put", &putRequest{key, value}, &empty{})
}

func (k *client) Get(ctx context.Context, key string) (string, error) {
	var r getReply
	err := call(ctx, k.c, "Get", &getRequest{key}, &r)
	return r.Value, err
}

func (k *client) Probe(ctx context.Context, path, addr string) (ProbeResult, error) {
	var r ProbeResult
	err := call(ctx, k.c, "Probe", &probeRequest{path, addr}, &r)
	return r, err
}

// handler adapts one method of a Store to grpc's MethodHandler.
func handler[Req any](serve func(context.Context, Store, *Req) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		return serve(ctx, srv.(Store), req)
	}
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "corral.kv.Store",
	HandlerType: (*Store)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Put", Handler: handler(func(ctx context.Context, s Store, r *putRequest) (any, error) {
			return &empty{}, s.Put(ctx, r.Key, r.Value)
		})},
		{MethodName: "Get", Handler: handler(func(ctx context.Context, s Store, r *getRequest) (any, error) {
			v, err := s.Get(ctx, r.Key)
			return &getReply{v}, err
		})},
		{MethodName: "Probe", Handler: handler(func(ctx context.Context, s Store, r *probeRequest) (any, error) {
			p, err := s.Probe(ctx, r.Path, r.Addr)
			return &p, err
		})},
	},
}
