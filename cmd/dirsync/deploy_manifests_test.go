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
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
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
	k8syaml "sigs.k8s.io/yaml"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/file"
	"github.com/dirsync/dirsync/connectors/registry"
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
			Port     string `yaml:"port"`
			Path     string `yaml:"path"`
			Interval string `yaml:"interval"`
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
			strict := func(v any) {
				require.NoError(t, k8syaml.UnmarshalStrict([]byte(doc), v), where)
			}
			var meta kubeMetadata
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				require.Nil(t, m.deployment, "%s: a second Deployment", where)
				m.deployment = &appsv1.Deployment{}
				strict(m.deployment)
				meta.Name, meta.Namespace = m.deployment.Name, m.deployment.Namespace
			case "v1 ConfigMap":
				require.Nil(t, m.configMap, "%s: a second ConfigMap", where)
				m.configMap = &corev1.ConfigMap{}
				strict(m.configMap)
				meta.Name, meta.Namespace = m.configMap.Name, m.configMap.Namespace
			case "v1 Secret":
				require.Nil(t, m.secret, "%s: a second Secret", where)
				m.secret = &corev1.Secret{}
				strict(m.secret)
				meta.Name, meta.Namespace = m.secret.Name, m.secret.Namespace
			case "v1 Service":
				require.Nil(t, m.service, "%s: a second Service", where)
				m.service = &corev1.Service{}
				strict(m.service)
				meta.Name, meta.Namespace = m.service.Name, m.service.Namespace
			case "policy/v1 PodDisruptionBudget":
				require.Nil(t, m.pdb, "%s: a second PodDisruptionBudget", where)
				m.pdb = &policyv1.PodDisruptionBudget{}
				strict(m.pdb)
				meta.Name, meta.Namespace = m.pdb.Name, m.pdb.Namespace
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

	// Shutdown: SIGTERM waits drainTimeout for runs in flight, then stops the
	// API and delivers queued alerts.
	require.NotNil(t, pod.Spec.TerminationGracePeriodSeconds)
	require.GreaterOrEqual(t, *pod.Spec.TerminationGracePeriodSeconds, int64(drainTimeout.Seconds())+15,
		"terminationGracePeriodSeconds leaves time to drain a run (%s) and stop", drainTimeout)

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

	t.Run("config check --offline", func(t *testing.T) {
		for name, v := range provided {
			t.Setenv(name, v)
		}
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"config", "check", "--offline", "--config", cfgPath}, &stdout, &stderr)
		var ee *exitError
		if errors.As(err, &ee) && strings.Contains(ee.msg, `unknown command "config"`) {
			t.Skip("dirsync config check is not built yet; config.Load above passed")
		}
		require.NoError(t, err, "dirsync config check --offline\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		t.Log("dirsync config check --offline:\n" + stdout.String())
	})
}

// composeFile is the part of a compose file the test reads.
type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// TestComposeConfig checks deploy/docker/compose.yaml and the configuration it
// mounts: the files land where dirsync.yaml reads them, the secrets it names
// are the service's, the backends are healthy before dirsync starts.
func TestComposeConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dockerDir, "compose.yaml"))
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(raw, &cf))
	svc, ok := cf.Services["dirsync"]
	require.True(t, ok, "a dirsync service")

	// The image is built from the repository root with the Dockerfile.
	require.NotNil(t, svc.Build)
	_, err = os.Stat(filepath.Join(dockerDir, svc.Build.Context, svc.Build.Dockerfile))
	require.NoError(t, err, "build context + dockerfile")
	_, err = os.Stat(filepath.Join(dockerDir, svc.Build.Context, "go.mod"))
	require.NoError(t, err, "the build context is the module's root")

	// The backends are healthy first.
	require.NotEmpty(t, svc.DependsOn)
	for dep, cond := range svc.DependsOn {
		require.Equal(t, "service_healthy", cond.Condition, "depends_on %s", dep)
		d, ok := cf.Services[dep]
		require.True(t, ok, "depends_on %s: no such service", dep)
		require.True(t, d.Healthcheck != nil && len(d.Healthcheck.Test) > 0, "%s has a healthcheck", dep)
	}

	// The container's /etc/dirsync, rebuilt from the bind mounts.
	etc := t.TempDir()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, "volume %q", v)
		src, dst := parts[0], parts[1]
		rel, ok := strings.CutPrefix(dst, "/etc/dirsync/")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dockerDir, src))
		require.NoError(t, err, "volume %q: the mounted file", v)
		require.NoError(t, os.MkdirAll(filepath.Join(etc, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(etc, rel), b, 0o644))
	}
	i := slices.Index(svc.Command, "--config")
	require.True(t, i >= 0 && i+1 < len(svc.Command), "command %v names --config FILE", svc.Command)
	rel, ok := strings.CutPrefix(svc.Command[i+1], "/etc/dirsync/")
	require.True(t, ok, "--config %s lies in /etc/dirsync", svc.Command[i+1])
	cfgPath := filepath.Join(etc, rel)
	cfgRaw, err := os.ReadFile(cfgPath)
	require.NoError(t, err, "--config %s is mounted", svc.Command[i+1])

	cfg, err := config.Load(cfgPath, registry.Builtin())
	require.NoError(t, err, "deploy/docker/dirsync.yaml")
	require.Equal(t, "redis", cfg.State.Backend)
	require.Equal(t, "postgres", cfg.Store.Backend)
	var fileConnectors int
	for _, cc := range cfg.Connectors {
		if fc, ok := cc.Source.(*file.Config); ok {
			fileConnectors++
			_, err := os.Stat(fc.Path)
			require.NoError(t, err, "connector %s reads %s: mount it", cc.Name, fc.Path)
		}
	}
	require.Positive(t, fileConnectors, "a file connector on the bundled sample: `docker compose up` syncs with no directory")

	// Listeners reachable and published.
	published := map[int32]bool{}
	for _, p := range svc.Ports {
		parts := strings.Split(p, ":")
		n, err := strconv.ParseInt(parts[len(parts)-1], 10, 32)
		require.NoError(t, err, "port %q", p)
		published[int32(n)] = true
	}
	require.True(t, published[listenPort(t, "server.listen", cfg.Server.Listen)], "server.listen is published")
	if cfg.Outbound.Policy.Listen != "" {
		require.True(t, published[listenPort(t, "outbound.policy.listen", cfg.Outbound.Policy.Listen)], "outbound.policy.listen is published")
	}

	// Secrets: file:/run/secrets/NAME of the service's own compose secrets;
	// ${NAME} from its environment.
	envs, files := configRefs(t, cfgRaw)
	for _, name := range envs {
		require.Contains(t, svc.Environment, name, "the configuration reads ${%s}: set it in the service's environment", name)
	}
	secretFile := func(name string) string {
		s, ok := cf.Secrets[name]
		require.True(t, ok, "compose secret %s is defined", name)
		b, err := os.ReadFile(filepath.Join(dockerDir, s.File))
		require.NoError(t, err, "compose secret %s", name)
		return strings.TrimRight(string(b), "\r\n")
	}
	require.NotEmpty(t, files)
	for _, f := range files {
		name, ok := strings.CutPrefix(f, "/run/secrets/")
		require.True(t, ok, "file:%s: compose mounts secrets in /run/secrets", f)
		require.Contains(t, svc.Secrets, name, "file:%s: list %s in the dirsync service's secrets", f, name)
		require.NotEmpty(t, secretFile(name))
	}

	// The store's connection string reaches the compose PostgreSQL with its password.
	dsn, err := url.Parse(secretFile("store_dsn"))
	require.NoError(t, err, "store_dsn is a postgres:// URL")
	require.Contains(t, cf.Services, dsn.Hostname(), "store_dsn's host is a compose service")
	pw, _ := dsn.User.Password()
	require.Equal(t, secretFile("postgres_password"), pw, "store_dsn's password is postgres_password's")
	for _, a := range cfg.State.Redis.Addrs {
		host, _, err := net.SplitHostPort(a)
		require.NoError(t, err)
		require.Contains(t, cf.Services, host, "state.redis.addrs %s is a compose service", a)
	}
}

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions. It is line based:
// comments and parser directives are dropped and lines ending in a backslash
// are joined (heredocs are not used here). Good enough for the checks below,
// without BuildKit's parser and its dependencies.
func parseDockerfile(t *testing.T, raw string) []dockerInstruction {
	t.Helper()
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	for n, line := range strings.Split(raw, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start})
		cur.Reset()
	}
	require.Zero(t, cur.Len(), "the Dockerfile ends in a continuation line")
	return out
}

// dockerIgnored reports whether a .dockerignore pattern list leaves path out
// of the build context (a pattern matches the path or one of its parents;
// **/ matches any folder; no exceptions with ! are used).
func dockerIgnored(patterns []string, p string) bool {
	for _, pat := range patterns {
		pat = strings.TrimPrefix(pat, "/")
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(pat, q); ok {
				return true
			}
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				if ok, _ := path.Match(rest, path.Base(q)); ok {
					return true
				}
			}
		}
	}
	return false
}

// TestDockerfile checks deploy/docker/Dockerfile: a Go build stage matching
// go.mod, a static binary, and a final stage on an empty (or distroless) base
// that runs as a numeric non-root user.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dockerDir, "Dockerfile"))
	require.NoError(t, err)
	ins := parseDockerfile(t, string(raw))

	// Stages, and the global ARG defaults their FROM lines use.
	args := map[string]string{}
	type stage struct {
		image, name string
		ins         []dockerInstruction
	}
	var stages []*stage
	for _, in := range ins {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			require.NotEmpty(t, f, "FROM on line %d", in.line)
			st := &stage{image: os.Expand(f[0], func(k string) string { return args[k] })}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		default:
			require.NotEmpty(t, stages, "line %d: %s before the first FROM", in.line, in.cmd)
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage: a build stage and a final one")

	// The build stage: the Go of go.mod, modules as their own layer, a static build.
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	require.NoError(t, err)
	sm := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	require.NotNil(t, sm, "go.mod's go line")
	build := stages[0]
	require.True(t, strings.HasPrefix(build.image, "golang:"+string(sm[1])+"-") || build.image == "golang:"+string(sm[1]),
		"the build stage's image %s is the Go of go.mod (%s)", build.image, sm[1])
	step := func(st *stage, cmd, contains string) int {
		for i, in := range st.ins {
			if in.cmd == cmd && strings.Contains(in.args, contains) {
				return i
			}
		}
		return -1
	}
	copyMod, download, copyAll := step(build, "COPY", "go.mod go.sum"), step(build, "RUN", "go mod download"), step(build, "COPY", ". .")
	require.True(t, copyMod >= 0 && download > copyMod && copyAll > download,
		"COPY go.mod go.sum, RUN go mod download, then COPY . . (the modules are a layer of their own)")
	b := step(build, "RUN", "go build")
	require.Greater(t, b, copyAll, "RUN go build")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.buildVersion=${VERSION}", "./cmd/dirsync"} {
		require.Contains(t, build.ins[b].args, want, "the go build line")
	}

	// The final stage.
	final := stages[len(stages)-1]
	require.True(t, final.image == "scratch" || strings.HasPrefix(final.image, "gcr.io/distroless/static"),
		"the final stage is scratch or distroless static, not %s", final.image)
	names := map[string]bool{}
	for _, st := range stages[:len(stages)-1] {
		names[st.name] = true
	}
	var user, entrypoint, cmd string
	var exposed []string
	var certs, binary bool
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "CMD":
			cmd = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "RUN":
			t.Errorf("line %d: RUN in the final stage (it has no shell)", in.line)
		case "COPY", "ADD":
			if from := regexp.MustCompile(`--from=(\S+)`).FindStringSubmatch(in.args); from != nil {
				require.True(t, names[from[1]], "line %d: --from=%s names an earlier stage", in.line, from[1])
			}
			certs = certs || strings.Contains(in.args, "ca-certificates.crt")
			binary = binary || strings.HasSuffix(in.args, " /dirsync")
		}
	}
	require.True(t, certs, "the final stage has the CA certificates")
	require.True(t, binary, "the final stage has /dirsync")
	require.Regexp(t, `^\d+(:\d+)?$`, user, "USER is numeric (uid or uid:gid): runAsNonRoot can check it without /etc/passwd")
	uid, gid, _ := strings.Cut(user, ":")
	require.NotEqual(t, "0", uid, "USER is not root")
	require.NotEqual(t, "0", gid, "USER's group is not root")
	var ep, cm []string
	require.NoError(t, json.Unmarshal([]byte(entrypoint), &ep), "ENTRYPOINT in exec form")
	require.Equal(t, []string{"/dirsync"}, ep)
	require.NoError(t, json.Unmarshal([]byte(cmd), &cm), "CMD in exec form")
	require.Equal(t, []string{"serve", "--config", "/etc/dirsync/dirsync.yaml"}, cm)
	require.Subset(t, exposed, []string{"8080", "10040"}, "EXPOSE the admin API and the policy service")

	// .dockerignore: .git and the compose secrets stay out; the sources stay in.
	di, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	require.NoError(t, err)
	var patterns []string
	for _, l := range strings.Split(string(di), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			require.False(t, strings.HasPrefix(l, "!"), ".dockerignore exceptions are not understood by this test")
			patterns = append(patterns, l)
		}
	}
	for _, p := range []string{".git/HEAD", "deploy/docker/secrets/store_dsn"} {
		require.True(t, dockerIgnored(patterns, p), ".dockerignore leaves %s out of the build context", p)
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/dirsync/main.go", "config/config.go", "store/sqlite/migrations/0001.sql", "connectors/registry/registry.go"} {
		require.False(t, dockerIgnored(patterns, p), ".dockerignore keeps %s in the build context", p)
	}
}
