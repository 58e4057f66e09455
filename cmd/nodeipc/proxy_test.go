package main

import (
	"strings"
	"testing"

	"github.com/effeeea0/nodeipc/internal/testcert"
)

func TestProxyEndsAndMakesTLS(t *testing.T) {
	certs, err := testcert.New(t.TempDir(), "proxy")
	if err != nil {
		t.Fatal(err)
	}
	srv := startBackground(t, "serve", "--tls", "127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile, "--echo", "--json")
	target := listenAddr(t, srv.waitFor("listening"))

	// Ended on --listen with the proxy's certificate, made anew to --to,
	// which is verified with --ca.
	px := startBackground(t, "proxy", "--listen", "tls:127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile,
		"--to", "tls:"+target, "--ca", certs.CAFile, "--json")
	front := listenAddr(t, px.waitFor("listening"))
	r := runCLI(t, "", "emit", "--tls", front, "--ca", certs.CAFile, `hello={"n":1}`, "--wait", "hello", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"data":{"n":1}`) {
		t.Fatalf("through the TLS proxy: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, dir := range []string{toServer, toClient} {
		if l := px.waitFor(`"direction":"` + dir + `"`); !strings.Contains(l, `"event":"hello","data":{"n":1}`) {
			t.Errorf("proxy line %s", l)
		}
	}
	px.interrupt()

	// A server it cannot verify: the connection is refused, and said why.
	untrusting := startBackground(t, "proxy", "--listen", "tls:127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile,
		"--to", "tls:"+target, "--json")
	front = listenAddr(t, untrusting.waitFor("listening"))
	runCLI(t, "", "emit", "--tls", front, "--ca", certs.CAFile, "hello")
	if l := untrusting.waitFor(`"event":"error"`); !strings.Contains(l, "certificate") {
		t.Errorf("the refusal says %s", l)
	}
	untrusting.interrupt()

	// Without verification, as asked.
	insecure := startBackground(t, "proxy", "--listen", "tls:127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile,
		"--to", "tls:"+target, "--insecure-skip-verify", "--json")
	front = listenAddr(t, insecure.waitFor("listening"))
	if r := runCLI(t, "", "emit", "--tls", front, "--ca", certs.CAFile, "ping", "--wait", "ping"); r.code != 0 {
		t.Errorf("--insecure-skip-verify: exit %d %s", r.code, r.stderr)
	}
	insecure.interrupt()
	srv.interrupt()

	// Mutual TLS on both sides: the client shows its certificate to the
	// proxy, the proxy its own to the server.
	mutual := startBackground(t, "serve", "--tls", "127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile,
		"--ca", certs.CAFile, "--echo", "--json")
	target = listenAddr(t, mutual.waitFor("listening"))
	px = startBackground(t, "proxy", "--listen", "tls:127.0.0.1:0", "--cert", certs.Server.CertFile, "--key", certs.Server.KeyFile,
		"--client-ca", certs.CAFile, "--to", "tls:"+target, "--ca", certs.CAFile,
		"--to-cert", certs.Client.CertFile, "--to-key", certs.Client.KeyFile, "--json")
	front = listenAddr(t, px.waitFor("listening"))
	if r := runCLI(t, "", "emit", "--tls", front, "--ca", certs.CAFile, "--cert", certs.Client.CertFile, "--key", certs.Client.KeyFile,
		"ping", "--wait", "ping"); r.code != 0 {
		t.Errorf("mutual TLS through the proxy: exit %d %s", r.code, r.stderr)
	}
	runCLI(t, "", "emit", "--tls", front, "--ca", certs.CAFile, "ping")
	if l := px.waitFor(`"event":"error"`); !strings.Contains(l, "TLS handshake") {
		t.Errorf("a client without a certificate: %s", l)
	}
	px.interrupt()
	mutual.interrupt()

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--listen", "tls:127.0.0.1:0", "--to", "tcp:127.0.0.1:1"}, "a tls: --listen needs --cert and --key"},
		{[]string{"--listen", "tcp:127.0.0.1:0", "--to", "tcp:127.0.0.1:1", "--cert", "x.pem"}, "--cert, --key and --client-ca go with a tls: --listen"},
		{[]string{"--listen", "tcp:127.0.0.1:0", "--to", "tcp:127.0.0.1:1", "--ca", "x.pem"}, "go with a tls: --to"},
	} {
		oneLineOn(t, runCLI(t, "", append([]string{"proxy"}, c.args...)...), exitUsage, c.msg)
	}
}
