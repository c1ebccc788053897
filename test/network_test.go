package test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// The network tests send nothing beyond this machine. "The internet" is a network namespace
// the test makes for itself (outsideHost): a veth pair joins it to the host's namespace with
// addresses from 198.51.100.0/24 (TEST-NET-2, a documentation range: public in form, routed
// nowhere), so to aishell it is an outside host reached through the host's routing, as a real
// one would be. The veth pair and the namespace are the test's changes to the host, removed
// after it. "The host's loopback" is a server the test starts on 127.0.0.1.

// netSide is where a network test runs aishell: rootful (the test's own containerd) or
// rootless (the rootless user's, inside rootlesskit).
type netSide struct {
	name  string
	c     *containerd.Client
	proj  string
	cfg   string // the config file
	run   func(t *testing.T, args ...string) result
	start func(args ...string) *exec.Cmd
}

func netSides(t *testing.T) []netSide {
	needEnv(t)
	var sides []netSide
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "net")
	cfg := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "XDG_CONFIG_HOME="); ok {
			cfg = filepath.Join(v, "aishell", "config.yaml")
		}
	}
	sides = append(sides, netSide{name: "rootful", c: c, proj: proj, cfg: cfg,
		run:   func(t *testing.T, args ...string) result { t.Helper(); return aishell(t, proj, env, args...) },
		start: func(args ...string) *exec.Cmd { return aishellCmd(proj, env, args...) }})
	u, uc := needRootless(t)
	dir := u.dir(t, "netcfg")
	rlBuild(t, u, dir, "--with-claude", "--claude-version="+claudeV2)
	uproj := u.project(t, "rlnet")
	xdg := []string{"XDG_CONFIG_HOME=" + dir}
	sides = append(sides, netSide{name: "rootless", c: uc, proj: uproj, cfg: filepath.Join(dir, "aishell", "config.yaml"),
		run:   func(t *testing.T, args ...string) result { t.Helper(); return u.aishell(t, uproj, xdg, args...) },
		start: func(args ...string) *exec.Cmd { return u.command(uproj, xdg, aishellBin, args...) }})
	return sides
}

// setNetwork appends a network section to the side's config (after the build wrote it).
func (s netSide) setNetwork(t *testing.T, yaml string) {
	t.Helper()
	b, _ := os.ReadFile(s.cfg)
	if i := strings.Index(string(b), "\nnetwork:"); i >= 0 {
		b = b[:i+1]
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if err := os.WriteFile(s.cfg, append(b, yaml...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loopbackServer is an HTTP server on the host's loopback; it answers "host-loopback".
func loopbackServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "host-loopback") }))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).String()
}

// outsideHost makes the stand-in for a host on the internet: a namespace of the test's, joined
// to the host's by a veth pair, with an HTTP server on port 80 answering "outside". It returns
// the server's address.
func outsideHost(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	ns, hostIf, nsIf := "aishnet-"+tag, "ashh"+tag, "ashn"+tag
	n := int(b[0]%60) * 4 // a /30 of 198.51.100.0/24 of this test's own
	hostAddr, nsAddr := fmt.Sprintf("198.51.100.%d", n+1), fmt.Sprintf("198.51.100.%d", n+2)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	ip("link", "set", nsIf, "netns", ns)
	ip("addr", "add", hostAddr+"/30", "dev", hostIf)
	ip("link", "set", hostIf, "up")
	ip("-n", ns, "addr", "add", nsAddr+"/30", "dev", nsIf)
	ip("-n", ns, "link", "set", nsIf, "up")
	ip("-n", ns, "link", "set", "lo", "up")
	l := listenInNetns(t, "/run/netns/"+ns, nsAddr+":80")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "outside") })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return nsAddr + ":80"
}

// listenInNetns opens a listener in the namespace at path, on a thread that goes back after.
func listenInNetns(t *testing.T, path, addr string) net.Listener {
	t.Helper()
	ch := make(chan any, 1)
	go func() {
		runtime.LockOSThread()
		own, _ := os.Open("/proc/thread-self/ns/net")
		target, err := os.Open(path)
		if err != nil {
			ch <- err
			return
		}
		defer target.Close()
		defer own.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- err
			return
		}
		l, err := net.Listen("tcp", addr)
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			ch <- err
			return
		}
		ch <- l
	}()
	switch v := (<-ch).(type) {
	case net.Listener:
		t.Cleanup(func() { v.Close() })
		return v
	case error:
		t.Fatalf("listen in %s: %v", path, v)
	}
	return nil
}

// probe is a shell line that prints NAME=ok or NAME=fail for an HTTP GET of url (no proxy),
// each bounded so that a hang shows as fail, and the time it took in ms.
func probe(name, url string) string {
	return fmt.Sprintf(`s=$(date +%%s%%N); if curl --noproxy '*' -sS -m 3 -o /dev/null %s 2>/dev/null; then r=ok; else r=fail; fi; echo %s=$r $(( ($(date +%%s%%N)-s)/1000000 ))ms; `, url, name)
}

// results reads NAME=ok|fail lines.
func results(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.Fields(line + " ")[0], "="); ok {
			m[k] = v
		}
	}
	return m
}

func expect(t *testing.T, side, mode string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s, network %s: %s is %q, want %s", side, mode, k, got[k], v)
		}
	}
}

func hostAddress(t *testing.T) string {
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !strings.HasPrefix(n.IP.String(), "198.51.100.") {
			return n.IP.String()
		}
	}
	t.Skip("the host has no non-loopback IPv4 address")
	return ""
}

// Each mode, rootful and rootless: what is reachable and what is not, and how fast a refusal is.
func TestNetworkModes(t *testing.T) {
	sides := netSides(t)
	outside := outsideHost(t)
	lo := loopbackServer(t)
	_, loPort, _ := net.SplitHostPort(lo)
	// A server on every host address: the host's own address must be out of reach too.
	all, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { all.Close() })
	go http.Serve(all, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "host") }))
	hostOwn := net.JoinHostPort(hostAddress(t), strconv.Itoa(all.Addr().(*net.TCPAddr).Port))

	probes := probe("outside", "http://"+outside) + probe("loopback", "http://"+lo) +
		probe("slirphost", "http://10.0.2.2:"+loPort) + probe("hostaddr", "http://"+hostOwn) +
		probe("metadata", "http://169.254.169.254/") + "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | tr '\\n' ' '"
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			s.setNetwork(t, "network: isolated\n")
			r := s.run(t, "exec", "--", "sh", "-c", probes)
			mustSucceed(t, r)
			expect(t, s.name, "isolated", results(r.Stdout), map[string]string{"outside": "ok", "loopback": "fail", "slirphost": "fail", "hostaddr": "fail", "metadata": "fail"})
			for _, line := range strings.Split(r.Stdout, "\n") {
				if strings.HasPrefix(line, "metadata=") || strings.HasPrefix(line, "hostaddr=") {
					if ms, _ := strconv.Atoi(strings.TrimSuffix(strings.Fields(line)[1], "ms")); ms > 1000 {
						t.Errorf("isolated: %s: a refusal should be fast", line)
					}
				}
			}

			r = s.run(t, "exec", "--network", "none", "--", "sh", "-c", probes)
			mustSucceed(t, r)
			expect(t, s.name, "none", results(r.Stdout), map[string]string{"outside": "fail", "loopback": "fail", "hostaddr": "fail", "metadata": "fail"})
			if ifs := strings.TrimSpace(r.Stdout[strings.LastIndex(r.Stdout, "\n")+1:]); ifs != "lo" {
				t.Errorf("none: interfaces %q, want only lo", ifs)
			}

			r = s.run(t, "exec", "--network", "host", "--", "sh", "-c", probes)
			mustSucceed(t, r)
			expect(t, s.name, "host", results(r.Stdout), map[string]string{"outside": "ok", "loopback": "ok", "hostaddr": "ok"})
		})
	}
}

// The allow-list: a listed name is reachable over HTTPS (through the proxy, which dials it at
// the pinned address: the name stands for a host on the internet and the test's TLS server is
// on the host's loopback); an unlisted one is refused at once with a message; a raw TCP connect
// to an unlisted address fails at once; DNS answers nothing.
func TestNetworkAllowList(t *testing.T) {
	sides := netSides(t)
	outside := outsideHost(t)
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "listed-over-https") }))
	t.Cleanup(tls.Close)
	_, port, _ := net.SplitHostPort(tls.Listener.Addr().String())
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw})
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			// httptest's certificate is for example.com.
			s.setNetwork(t, fmt.Sprintf("network:\n  mode: allow-list\n  allow: [\"example.com:%s=127.0.0.1\"]\n", port))
			caFile := filepath.Join(s.proj, "test-ca.pem")
			os.WriteFile(caFile, ca, 0o644)
			host, oport, _ := net.SplitHostPort(outside)
			script := fmt.Sprintf(`curl -sS -m 5 --cacert %s https://example.com:%s/; echo " listed=$?"
s=$(date +%%s%%N); curl -sS -m 5 https://unlisted.example.net/ 2>&1; echo " unlisted=$? $(( ($(date +%%s%%N)-s)/1000000 ))ms"
curl -sS -m 5 http://unlisted.example.net/ 2>&1; echo " unlistedhttp=$?"
s=$(date +%%s%%N); (exec 3<>/dev/tcp/%s/%s) 2>&1; echo " raw=$? $(( ($(date +%%s%%N)-s)/1000000 ))ms"
getent hosts example.com; echo " dns=$?"
env | grep -c '^HTTPS_PROXY='`, caFile, port, host, oport)
			r := s.run(t, "exec", "--", "bash", "-c", script)
			out := r.Stdout
			if !strings.Contains(out, "listed-over-https listed=0") {
				t.Errorf("the listed name over HTTPS: %q", out)
			}
			if !strings.Contains(out, "403") || strings.Contains(out, "unlisted=0") {
				t.Errorf("an unlisted name over HTTPS was not refused with 403: %q", out)
			}
			if !strings.Contains(out, "not in the allow-list") {
				t.Errorf("no readable refusal for plain HTTP: %q", out)
			}
			if strings.Contains(out, "raw=0") || !strings.Contains(out, "raw=1") {
				t.Errorf("a raw TCP connect to an unlisted address: %q", out)
			}
			if strings.Contains(out, "dns=0") {
				t.Errorf("DNS resolved inside: %q", out)
			}
			for _, line := range strings.Split(out, "\n") {
				for _, k := range []string{"unlisted=", "raw="} {
					if i := strings.Index(line, k); i >= 0 {
						f := strings.Fields(line[i:])
						if len(f) > 1 {
							if ms, _ := strconv.Atoi(strings.TrimSuffix(f[1], "ms")); ms > 1000 {
								t.Errorf("allow-list: %s took %d ms, want under 1 s", k, ms)
							}
						}
					}
				}
			}
		})
	}
}

// SIGTERM of aishell removes the run's namespace and slirp4netns; after SIGKILL, slirp4netns
// goes by itself (its exit fd) and `aishell gc` removes the container with its namespace (and
// the nft rules in it). The host's own ruleset is the same before and after.
func TestNetworkLeavesNothing(t *testing.T) {
	sides := netSides(t)
	ruleset := func() string {
		out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %v %s", err, out)
		}
		return string(out)
	}
	before := ruleset()
	t.Cleanup(func() {
		if after := ruleset(); after != before {
			t.Errorf("the host's nftables ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	for _, s := range sides {
		for _, mode := range []string{"isolated", "allow-list"} {
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
				t.Run(fmt.Sprintf("%s/%s/%s", s.name, mode, sig), func(t *testing.T) {
					s.setNetwork(t, "network: isolated\n")
					cmd := s.start("exec", "--network", mode, "--", "sleep", "100")
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					defer cmd.Process.Kill()
					id := runningID(t, s.c, s.proj)
					ctr, err := s.c.LoadContainer(context.Background(), id)
					if err != nil {
						t.Fatal(err)
					}
					task, err := ctr.Task(context.Background(), nil)
					if err != nil {
						t.Fatal(err)
					}
					netns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", task.Pid()))
					if err != nil {
						t.Fatal(err)
					}
					own, _ := os.Readlink("/proc/self/ns/net")
					if netns == own {
						t.Fatalf("the container shares the host's namespace %s", netns)
					}
					slirps := helpers(cmd.Process.Pid)
					if mode == "isolated" && len(slirps) == 0 {
						t.Errorf("no slirp4netns under aishell %d", cmd.Process.Pid)
					}
					cmd.Process.Signal(sig)
					cmd.Wait()
					// slirp4netns goes with aishell, before any gc: its exit fd closed.
					waitUntil(t, 5*time.Second, "slirp4netns gone", func() bool {
						for _, p := range slirps {
							if syscall.Kill(p, 0) == nil {
								return false
							}
						}
						return true
					})
					// After SIGKILL the run's reaper removes the run (TestGCReapsRunsOfKilledAishell
					// has gc do it when the reaper dies too).
					waitGone(t, s.c, id)
					waitUntil(t, 5*time.Second, "no process in the run's namespace "+netns, func() bool { return len(inNetns(netns)) == 0 })
				})
			}
		}
	}
}

// helpers are the pids of the slirp4netns processes under pid.
func helpers(pid int) []int {
	var out []int
	for _, p := range descendants(pid) {
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil && strings.TrimSpace(string(comm)) == "slirp4netns" {
			out = append(out, p)
		}
	}
	return out
}

// inNetns are the pids of processes in the network namespace ns ("net:[inode]").
func inNetns(ns string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p)); err == nil && l == ns {
			out = append(out, p)
		}
	}
	return out
}

// A project's .aishell/config.yaml may make the network stricter (none) but not wider (host)
// unless trusted; `aishell doctor` warns while host is configured.
func TestNetworkProjectAndDoctor(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "netproj")
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(proj, ".aishell", "config.yaml"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("network: none\n")
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '")
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != "lo" {
		t.Errorf("a project's network: none: interfaces %q", r.Stdout)
	}
	write("network: host\n")
	r = aishell(t, proj, env, "exec", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "network host") {
		t.Errorf("an untrusted project's network: host ran: exit %d %q", r.Code, r.Stderr)
	}
	write("network:\n  mode: allow-list\n  allow: [\"db.internal=10.0.0.5\"]\n")
	if r = aishell(t, proj, env, "exec", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "network.allow db.internal=10.0.0.5") {
		t.Errorf("an untrusted project's pin to a private address ran: exit %d %q", r.Code, r.Stderr)
	}
	// A list hidden under a strict mode, which a --network of the person's would make count:
	// refused, with the flag or without it.
	write("network:\n  mode: none\n  allow: [\"0.0.0.0/0\"]\n")
	for _, args := range [][]string{{"exec", "true"}, {"exec", "--network", "allow-list", "true"}, {"exec", "--network", "isolated", "true"}} {
		if r = aishell(t, proj, env, args...); r.Code == 0 || !strings.Contains(r.Stderr, "network.allow 0.0.0.0/0") {
			t.Errorf("%v with an untrusted project's allow 0.0.0.0/0 ran: exit %d %q", args, r.Code, r.Stderr)
		}
	}
	// The person's --network host is said at the start of the run.
	os.Remove(filepath.Join(proj, ".aishell", "config.yaml"))
	if r = aishell(t, proj, env, "exec", "--network", "host", "true"); r.Code != 0 || !strings.Contains(r.Stderr, "--network host: the sandbox shares the host's network") {
		t.Errorf("--network host: exit %d %q", r.Code, r.Stderr)
	}

	cfg := t.TempDir()
	os.MkdirAll(filepath.Join(cfg, "aishell"), 0o755)
	os.WriteFile(filepath.Join(cfg, "aishell", "config.yaml"), []byte("network: host\n"), 0o644)
	r = aishell(t, "", []string{"XDG_CONFIG_HOME=" + cfg}, "doctor")
	if !strings.Contains(r.Stdout, "warn  network") || !strings.Contains(r.Stdout, "169.254.169.254") {
		t.Errorf("doctor does not warn about network: host: %q", r.Stdout)
	}
	os.WriteFile(filepath.Join(cfg, "aishell", "config.yaml"), []byte("network: isolated\n"), 0o644)
	r = aishell(t, "", []string{"XDG_CONFIG_HOME=" + cfg}, "doctor")
	if !strings.Contains(r.Stdout, "ok    network") {
		t.Errorf("doctor on network: isolated with slirp4netns and nft here: %q", r.Stdout)
	}
}
