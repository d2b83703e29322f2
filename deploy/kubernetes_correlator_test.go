package deploy

import (
	"os"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"
)

// The correlator's Deployment: one replica replaced with Recreate (two
// on one durable consumer would split the probes), non-root with no
// capability, read-only root, limits, scrape annotations on its port.
func TestCorrelatorDeployment(t *testing.T) {
	b, err := os.ReadFile("kubernetes/correlator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Kind string
		Spec struct {
			Replicas *int
			Strategy struct{ Type string }
			Template struct {
				Metadata struct{ Annotations map[string]string }
				Spec     struct {
					SecurityContext struct {
						RunAsNonRoot *bool `yaml:"runAsNonRoot"`
						RunAsUser    *int  `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					Containers []container
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("correlator.yaml: %v", err)
	}
	if d.Kind != "Deployment" || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Fatalf("kind %s, replicas %v, strategy %q: want a Deployment of exactly 1, replaced with Recreate", d.Kind, d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
		t.Error("the correlator must run as a non-root user")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem {
		t.Error("want privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true")
	}
	if len(sc.Capabilities.Add) != 0 || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities add %v drop %v: want none added, ALL dropped", sc.Capabilities.Add, sc.Capabilities.Drop)
	}
	if c.Resources.Limits["memory"] == "" || c.Resources.Limits["cpu"] == "" {
		t.Error("want cpu and memory limits")
	}
	if len(c.Args) == 0 || c.Args[0] != "correlate" || !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--nats=") }) {
		t.Errorf("args %v: want correlate --nats=...", c.Args)
	}
	if !slices.Contains(c.Args, "--web.listen-address=:9596") || d.Spec.Template.Metadata.Annotations["prometheus.io/port"] != "9596" {
		t.Error("metrics must listen on the annotated port 9596")
	}
}
