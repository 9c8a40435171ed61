package main

// deploy/docker/Dockerfile, checked line by line (see deploy_manifests_test.go).

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

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
