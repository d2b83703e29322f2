package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"
)

// The fields of the DaemonSet the tests hold to: no cluster here, so no
// kubectl; the manifest's security properties are checked as data.
type daemonSet struct {
	Kind string
	Spec struct {
		Template struct {
			Metadata struct{ Annotations map[string]string }
			Spec     struct {
				HostNetwork bool `yaml:"hostNetwork"`
				Containers  []container
			}
		}
	}
}

// container is what the tests read of a manifest's container.
type container struct {
	Args            []string
	SecurityContext struct {
		Privileged               *bool `yaml:"privileged"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct{ Add, Drop []string }
	} `yaml:"securityContext"`
	Resources struct{ Limits, Requests map[string]string }
}

func TestDaemonSet(t *testing.T) {
	b, err := os.ReadFile("kubernetes/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var ds *daemonSet
	for {
		var d daemonSet
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("daemonset.yaml: %v", err)
		}
		if d.Kind == "DaemonSet" {
			ds = &d
		}
	}
	if ds == nil {
		t.Fatal("no DaemonSet in daemonset.yaml")
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("hostNetwork is off: XDP would attach to the pod's veth, not the node's interface")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem {
		t.Error("the container must be explicitly unprivileged, without privilege escalation, on a read-only root")
	}
	add := slices.Sorted(slices.Values(sc.Capabilities.Add))
	if !slices.Equal(add, []string{"BPF", "NET_ADMIN", "PERFMON"}) || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities add %v drop %v, want BPF NET_ADMIN PERFMON and ALL", sc.Capabilities.Add, sc.Capabilities.Drop)
	}
	if c.Resources.Limits["memory"] == "" || c.Resources.Limits["cpu"] == "" {
		t.Error("no CPU and memory limits")
	}
	args := strings.Join(c.Args, " ")
	ann := ds.Spec.Template.Metadata.Annotations
	if !strings.HasPrefix(args, "run ") || !strings.Contains(args, "--iface=") {
		t.Errorf("args %q do not run the sensor on an interface", args)
	}
	if ann["prometheus.io/scrape"] != "true" || !strings.Contains(args, "--web.listen-address=$(NODE_IP):"+ann["prometheus.io/port"]) {
		t.Errorf("scrape annotations %v do not match the listen address in %q (the default is loopback, unreachable for Prometheus)", ann, args)
	}
}
