package main

// The shipped deployment files (deploy/kubernetes, deploy/docker) checked
// without a cluster or a Docker engine: the Kubernetes manifests are decoded
// strictly into the official API types (an unknown or misspelt field fails),
// checked against each other, and the dirsync configuration they carry goes
// through `dirsync config check --offline` with the environment the Deployment
// gives the pod; the compose stack's configuration is loaded as the container
// sees it; the Dockerfile's final stage is checked line by line.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/daemon"
)

var (
	kubeDir   = filepath.Join("..", "..", "deploy", "kubernetes")
	dockerDir = filepath.Join("..", "..", "deploy", "docker")
)

// kubeManifests is every object of deploy/kubernetes, one of each kind.
type kubeManifests struct {
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	monitor    *serviceMonitor
	// files maps each manifest file to the kinds it holds.
	files map[string][]string
}

// serviceMonitor is the part of the Prometheus Operator's CRD the manifest
// uses. k8s.io/api has no type for it; decoding it with KnownFields still
// catches a misspelt key.
type serviceMonitor struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   kubeMetadata `yaml:"metadata"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Endpoints []struct {
			Port      string `yaml:"port"`
			Path      string `yaml:"path"`
			Interval  string `yaml:"interval"`
			Scheme    string `yaml:"scheme"`
			TLSConfig *struct {
				CA struct {
					Secret struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"secret"`
				} `yaml:"ca"`
				ServerName string `yaml:"serverName"`
			} `yaml:"tlsConfig"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type kubeMetadata struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// kustomization is the part of kustomize's file the directory uses.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadKubeManifests decodes every document of every *.yaml file of dir but
// kustomization.yaml, strictly, into the type its apiVersion and kind name.
func loadKubeManifests(t *testing.T, dir string) *kubeManifests {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	m := &kubeManifests{files: map[string][]string{}}
	for _, p := range paths {
		base := filepath.Base(p)
		if base == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		for i, doc := range docSeparator.Split(string(raw), -1) {
			var probe map[string]any
			require.NoError(t, k8syaml.Unmarshal([]byte(doc), &probe), "%s document %d", base, i)
			if len(probe) == 0 {
				continue // comments only
			}
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			require.NoError(t, k8syaml.Unmarshal([]byte(doc), &tm))
			where := fmt.Sprintf("%s document %d (%s %s)", base, i, tm.APIVersion, tm.Kind)
			var meta kubeMetadata
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				meta = decodeKube(t, where, doc, &m.deployment)
			case "v1 ConfigMap":
				meta = decodeKube(t, where, doc, &m.configMap)
			case "v1 Secret":
				meta = decodeKube(t, where, doc, &m.secret)
			case "v1 Service":
				meta = decodeKube(t, where, doc, &m.service)
			case "policy/v1 PodDisruptionBudget":
				meta = decodeKube(t, where, doc, &m.pdb)
			case "monitoring.coreos.com/v1 ServiceMonitor":
				require.Nil(t, m.monitor, "%s: a second ServiceMonitor", where)
				m.monitor = &serviceMonitor{}
				dec := yaml.NewDecoder(strings.NewReader(doc))
				dec.KnownFields(true)
				require.NoError(t, dec.Decode(m.monitor), where)
				meta = m.monitor.Metadata
			default:
				t.Fatalf("%s: a kind this test does not know: add it here", where)
			}
			require.NotEmpty(t, meta.Name, "%s: metadata.name", where)
			require.Empty(t, meta.Namespace, "%s: the manifests name no namespace (kubectl apply -n / kustomize set it)", where)
			m.files[base] = append(m.files[base], tm.Kind)
		}
	}
	require.NotNil(t, m.deployment, "a Deployment")
	require.NotNil(t, m.configMap, "a ConfigMap")
	require.NotNil(t, m.secret, "a Secret")
	require.NotNil(t, m.service, "a Service")
	require.NotNil(t, m.pdb, "a PodDisruptionBudget")
	return m
}

// decodeKube decodes doc strictly into a new *T stored in *slot (a manifest
// set holds one object of each kind) and returns its name and namespace.
func decodeKube[T any, PT interface {
	*T
	metav1.Object
}](t *testing.T, where, doc string, slot *PT) kubeMetadata {
	t.Helper()
	require.Nil(t, *slot, "%s: a second one of this kind", where)
	obj := PT(new(T))
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(doc), obj), where)
	*slot = obj
	return kubeMetadata{Name: obj.GetName(), Namespace: obj.GetNamespace()}
}

// labelsMatch reports whether every label of selector is in labels.
func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return len(selector) > 0
}

// listenPort returns the port of a host:port and fails on a loopback host,
// which no probe, Service or other pod can reach.
func listenPort(t *testing.T, key, addr string) int32 {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "%s %q", key, addr)
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Fatalf("%s %q listens on loopback only: probes, the Service and other pods cannot reach it", key, addr)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	require.NoError(t, err, "%s %q", key, addr)
	return int32(n)
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// configRefs returns the ${NAME} and file:PATH secret references of a dirsync
// configuration: whole scalar values, as config.Secret reads them (comments
// and text around a reference do not count).
func configRefs(t *testing.T, raw []byte) (envs, files []string) {
	t.Helper()
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &root))
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			v := strings.TrimSpace(n.Value)
			if sm := envRef.FindStringSubmatch(v); sm != nil {
				envs = append(envs, sm[1])
			} else if strings.HasPrefix(v, "file:") {
				files = append(files, strings.TrimPrefix(v, "file:"))
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return envs, files
}

// secretValues returns a Secret's keys and values (data and stringData).
func secretValues(s *corev1.Secret) map[string]string {
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// parseGoMemLimit reads a GOMEMLIMIT value: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, err
			}
			if suffix != "B" {
				n <<= 10 * (4 - i)
			}
			return n, nil
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// TestKubeManifests checks deploy/kubernetes: strict decoding, the objects
// agreeing with each other, and the configuration they carry.
func TestKubeManifests(t *testing.T) {
	m := loadKubeManifests(t, kubeDir)
	d := m.deployment
	pod := d.Spec.Template
	podLabels := pod.Labels

	// Replicas, and the selectors that must find the pods.
	require.NotNil(t, d.Spec.Replicas)
	require.GreaterOrEqual(t, *d.Spec.Replicas, int32(2), "several replicas: one leads, the others take over")
	require.NotNil(t, d.Spec.Selector)
	require.Empty(t, d.Spec.Selector.MatchExpressions, "matchLabels only (this test does not evaluate expressions)")
	require.True(t, labelsMatch(d.Spec.Selector.MatchLabels, podLabels), "the Deployment's selector matches its pod labels")
	require.True(t, labelsMatch(m.service.Spec.Selector, podLabels), "the Service's selector %v matches the pod labels %v", m.service.Spec.Selector, podLabels)
	require.NotNil(t, m.pdb.Spec.Selector)
	require.Empty(t, m.pdb.Spec.Selector.MatchExpressions)
	require.True(t, labelsMatch(m.pdb.Spec.Selector.MatchLabels, podLabels), "the PodDisruptionBudget's selector matches the pod labels")
	require.NotNil(t, m.pdb.Spec.MinAvailable)
	require.Equal(t, int32(1), m.pdb.Spec.MinAvailable.IntVal)
	require.Empty(t, m.pdb.Spec.MinAvailable.StrVal)
	require.Less(t, m.pdb.Spec.MinAvailable.IntVal, *d.Spec.Replicas, "a drain can still move one replica")

	// Spread: preferably one replica per node.
	require.NotNil(t, pod.Spec.Affinity)
	require.NotNil(t, pod.Spec.Affinity.PodAntiAffinity)
	var spread bool
	for _, w := range pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if w.PodAffinityTerm.TopologyKey == "kubernetes.io/hostname" && w.PodAffinityTerm.LabelSelector != nil &&
			labelsMatch(w.PodAffinityTerm.LabelSelector.MatchLabels, podLabels) {
			spread = true
		}
	}
	require.True(t, spread, "a preferred pod anti-affinity by kubernetes.io/hostname selecting the pods")

	// The container.
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	var numbers []int32
	for _, p := range c.Ports {
		require.NotEmpty(t, p.Name, "container port %d is named", p.ContainerPort)
		ports[p.Name] = p.ContainerPort
		numbers = append(numbers, p.ContainerPort)
	}
	require.Contains(t, ports, "http")
	require.Contains(t, ports, "policy")
	probePort := func(name string, p *corev1.Probe, wantPath string) {
		require.NotNil(t, p, "%s probe", name)
		require.NotNil(t, p.HTTPGet, "%s probe is an HTTP GET", name)
		require.Equal(t, wantPath, p.HTTPGet.Path, "%s probe path", name)
		if p.HTTPGet.Port.StrVal != "" {
			require.Contains(t, ports, p.HTTPGet.Port.StrVal, "%s probe port names a container port", name)
			require.Equal(t, "http", p.HTTPGet.Port.StrVal, "%s probe on the http port", name)
		} else {
			require.Contains(t, numbers, p.HTTPGet.Port.IntVal, "%s probe port is a container port", name)
			require.Equal(t, ports["http"], p.HTTPGet.Port.IntVal, "%s probe on the http port", name)
		}
	}
	probePort("readiness", c.ReadinessProbe, "/readyz")
	probePort("liveness", c.LivenessProbe, "/healthz")
	if c.StartupProbe != nil {
		probePort("startup", c.StartupProbe, "/healthz")
	}
	// /readyz asks the store and the state backend with a 3 s timeout each.
	require.GreaterOrEqual(t, c.ReadinessProbe.TimeoutSeconds, int32(4), "readiness timeoutSeconds above /readyz's own 3 s")

	// Shutdown: SIGTERM waits daemon.DrainTimeout for runs in flight, then stops the
	// API and delivers queued alerts.
	require.NotNil(t, pod.Spec.TerminationGracePeriodSeconds)
	require.GreaterOrEqual(t, *pod.Spec.TerminationGracePeriodSeconds, int64(daemon.DrainTimeout.Seconds())+15,
		"terminationGracePeriodSeconds leaves time to drain a run (%s) and stop", daemon.DrainTimeout)

	// Hardening.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	require.NotNil(t, sc, "container securityContext")
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	require.True(t, nonRoot, "runAsNonRoot")
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	require.True(t, *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	require.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
	require.NotNil(t, sc.Capabilities)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "drop every capability")
	require.Empty(t, sc.Capabilities.Add)
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	require.NotNil(t, seccomp, "a seccomp profile")
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, seccomp.Type)

	// Resources, and a Go soft memory limit under the hard one.
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		require.Contains(t, c.Resources.Requests, name, "requests.%s", name)
		require.Contains(t, c.Resources.Limits, name, "limits.%s", name)
	}
	require.LessOrEqual(t, c.Resources.Requests.Memory().Value(), c.Resources.Limits.Memory().Value())
	require.LessOrEqual(t, c.Resources.Requests.Cpu().MilliValue(), c.Resources.Limits.Cpu().MilliValue())
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			n, err := parseGoMemLimit(e.Value)
			require.NoError(t, err, "GOMEMLIMIT %q", e.Value)
			require.Less(t, n, c.Resources.Limits.Memory().Value(), "GOMEMLIMIT below limits.memory")
		}
	}

	// The Service: named ports that reach the container's.
	svcPorts := map[string]bool{}
	for _, p := range m.service.Spec.Ports {
		require.NotEmpty(t, p.Name, "Service port %d is named (a ServiceMonitor selects it by name)", p.Port)
		svcPorts[p.Name] = true
		target := p.TargetPort.IntVal
		if p.TargetPort.StrVal != "" {
			require.Contains(t, ports, p.TargetPort.StrVal, "Service port %s targets a container port", p.Name)
			target = ports[p.TargetPort.StrVal]
		} else if target == 0 {
			target = p.Port
		}
		require.Equal(t, ports[p.Name], target, "Service port %s reaches the container port of that name", p.Name)
	}
	require.True(t, svcPorts["http"] && svcPorts["policy"], "Service ports http and policy")
	if sm := m.monitor; sm != nil {
		require.True(t, labelsMatch(sm.Spec.Selector.MatchLabels, m.service.Labels), "the ServiceMonitor selects the Service")
		require.NotEmpty(t, sm.Spec.Endpoints)
		for _, ep := range sm.Spec.Endpoints {
			require.Equal(t, "http", ep.Port, "scrape the http port")
			require.Equal(t, "/metrics", ep.Path)
		}
	}

	// The configuration file: the ConfigMap key the container's --config reads.
	var mountPath string
	var cfgVolume *corev1.Volume
	for i, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name {
			cfgVolume = &pod.Spec.Volumes[i]
		}
	}
	require.NotNil(t, cfgVolume, "a volume of the ConfigMap %s", m.configMap.Name)
	for _, vm := range c.VolumeMounts {
		if vm.Name == cfgVolume.Name {
			mountPath = vm.MountPath
		}
	}
	require.NotEmpty(t, mountPath, "the ConfigMap volume is mounted")
	i := slices.Index(c.Args, "--config")
	require.True(t, i >= 0 && i+1 < len(c.Args), "args %v name --config FILE", c.Args)
	require.Equal(t, "serve", c.Args[0], "the container runs dirsync serve")
	cfgFile := c.Args[i+1]
	rel, ok := strings.CutPrefix(cfgFile, mountPath+"/")
	require.True(t, ok, "--config %s lies in the ConfigMap's mount %s", cfgFile, mountPath)
	key := rel
	if items := cfgVolume.ConfigMap.Items; len(items) > 0 {
		key = ""
		for _, it := range items {
			if it.Path == rel {
				key = it.Key
			}
		}
	}
	raw, ok := m.configMap.Data[key]
	require.True(t, ok, "the ConfigMap has the key %q that --config %s reads", key, cfgFile)

	// checksum/config rolls the pods when configmap.yaml changes.
	cmRaw, err := os.ReadFile(filepath.Join(kubeDir, "configmap.yaml"))
	require.NoError(t, err)
	sum := sha256.Sum256(cmRaw)
	require.Equal(t, hex.EncodeToString(sum[:]), pod.Annotations["checksum/config"],
		"deployment.yaml's checksum/config annotation is the sha256sum of configmap.yaml: update it")

	// Every ${NAME} of the configuration is in the pod's environment; every
	// file: reference lies in a mounted volume.
	provided := map[string]string{}
	required := map[string]bool{}
	secretKeys := secretValues(m.secret)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			provided[e.Name] = e.Value
			required[e.Name] = true
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			require.Equal(t, m.secret.Name, ref.Name, "env %s comes from the Secret of secret.yaml", e.Name)
			v, ok := secretKeys[ref.Key]
			require.True(t, ok, "env %s: the Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			provided[e.Name] = v
			required[e.Name] = !optional
		default:
			provided[e.Name] = "placeholder"
			required[e.Name] = true
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			require.Equal(t, m.secret.Name, ef.SecretRef.Name, "envFrom the Secret of secret.yaml")
			for k, v := range secretKeys {
				provided[ef.Prefix+k] = v
				required[ef.Prefix+k] = ef.SecretRef.Optional == nil || !*ef.SecretRef.Optional
			}
		}
	}
	envs, files := configRefs(t, []byte(raw))
	require.NotEmpty(t, envs, "the configuration's secrets are ${ENV} references")
	for _, name := range envs {
		_, ok := provided[name]
		require.True(t, ok, "the configuration reads ${%s}, which the Deployment does not provide", name)
		require.True(t, required[name], "${%s} comes from an optional key: the pod would start without it", name)
	}
	for _, f := range files {
		var mounted bool
		for _, vm := range c.VolumeMounts {
			mounted = mounted || strings.HasPrefix(f, vm.MountPath+"/")
		}
		require.True(t, mounted, "file:%s lies in no mounted volume", f)
	}
	// The example Secret holds placeholders only.
	for k, v := range secretKeys {
		require.Contains(t, v, "REPLACE-ME", "secret.yaml %s: an example Secret holds placeholders only", k)
	}

	// The kustomization lists every manifest but the optional ServiceMonitor.
	kraw, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	require.NoError(t, err)
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(kraw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&k), "kustomization.yaml")
	require.Empty(t, k.Namespace, "namespace-agnostic")
	var want []string
	for f, kinds := range m.files {
		if !slices.Contains(kinds, "ServiceMonitor") {
			want = append(want, f)
		}
	}
	require.ElementsMatch(t, want, k.Resources, "kustomization.yaml resources")
	image, _, _ := strings.Cut(c.Image, ":")
	for _, img := range k.Images {
		require.Equal(t, image, img.Name, "kustomization images: the Deployment's image name")
	}

	// The configuration itself, as the pod reads it.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, filepath.Base(cfgFile))
	require.NoError(t, os.WriteFile(cfgPath, []byte(raw), 0o600))
	cfg, err := config.Load(cfgPath, registry.Builtin())
	require.NoError(t, err, "the ConfigMap's dirsync.yaml")
	require.Equal(t, "redis", cfg.State.Backend, "replicas share the state in Redis")
	require.Equal(t, "postgres", cfg.Store.Backend, "replicas share the store in PostgreSQL")
	require.Equal(t, ports["http"], listenPort(t, "server.listen", cfg.Server.Listen), "server.listen is the http container port")
	require.NotEmpty(t, cfg.Outbound.Policy.Listen, "the policy service is on")
	require.Equal(t, ports["policy"], listenPort(t, "outbound.policy.listen", cfg.Outbound.Policy.Listen), "outbound.policy.listen is the policy container port")
	types := map[string]bool{}
	for _, cc := range cfg.Connectors {
		types[cc.Type] = true
	}
	require.True(t, types["ldap"] && types["entra"], "an LDAP and an Entra connector")

	// HTTPS on the pod network: the probes and the scrape speak it, and the
	// certificate and key are files of a mounted Secret.
	require.True(t, cfg.Server.TLS.Enabled(), "server.tls: admin tokens cross the pod network")
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p != nil {
			require.Equal(t, corev1.URISchemeHTTPS, p.HTTPGet.Scheme, "%s probe over HTTPS", name)
		}
	}
	if sm := m.monitor; sm != nil {
		for _, ep := range sm.Spec.Endpoints {
			require.Equal(t, "https", ep.Scheme, "scrape over HTTPS")
			require.NotNil(t, ep.TLSConfig, "the scrape trusts a CA")
		}
	}
	for _, f := range []string{cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile} {
		var secret string
		for _, vm := range c.VolumeMounts {
			if strings.HasPrefix(f, vm.MountPath+"/") {
				for _, v := range pod.Spec.Volumes {
					if v.Name == vm.Name && v.Secret != nil {
						secret = v.Secret.SecretName
					}
				}
			}
		}
		require.NotEmpty(t, secret, "server.tls file %s lies in a mounted Secret", f)
	}

	t.Run("config check --offline", func(t *testing.T) {
		for name, v := range provided {
			t.Setenv(name, v)
		}
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"config", "check", "--offline", "--config", cfgPath}, &stdout, &stderr)
		require.NoError(t, err, "dirsync config check --offline\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		t.Log("dirsync config check --offline:\n" + stdout.String())
	})
}
