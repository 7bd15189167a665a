// Command kvplugin is the plugin of examples/pluginhost: a key-value store
// served over go-plugin's gRPC transport. The host starts it; run by hand,
// it says so and exits.
package main

import "github.com/corral-dev/corral/examples/pluginhost/kv"

func main() { kv.Serve() }
