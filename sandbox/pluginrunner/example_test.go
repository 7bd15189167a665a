package pluginrunner_test

import (
	"os/exec"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/pluginrunner"
	"github.com/hashicorp/go-plugin"
)

// A go-plugin host whose plugin runs sandboxed: RunnerFunc in place of Cmd.
// The program's main must call sandbox.Main first.
func ExampleRunnerFunc() {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "MY_PLUGIN", MagicCookieValue: "hello"},
		Plugins:          plugin.PluginSet{ /* your plugins */ },
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		RunnerFunc:       pluginrunner.RunnerFunc(sandbox.Options{}, exec.Command("/usr/local/libexec/my-plugin")),
	})
	defer client.Kill()
	// rpc, err := client.Client(); rpc.Dispense("name") ...
}
