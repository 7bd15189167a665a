// Package deploy holds the code runner's Kubernetes manifests (*.yaml), its
// Dockerfile and an AppArmor profile for Ubuntu nodes; it has no code. Its
// test decodes every manifest strictly into the Kubernetes API types and
// checks the settings the server needs to build sandboxes in a pod: a user
// namespace (hostUsers: false), the seccomp, AppArmor and /proc settings,
// no capabilities, the probes, the shutdown grace period, the Service's
// selector and the HorizontalPodAutoscaler on the queue metric.
package deploy
