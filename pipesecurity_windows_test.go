//go:build windows

package nodeipc_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/Microsoft/go-winio"
	"github.com/effeeea0/nodeipc"
	"golang.org/x/sys/windows"
)

// The access rights a pipe's ACEs hold once Windows has mapped the generic
// rights of the SDDL (GA, GR, GW) onto a file object's rights.
const (
	pipeAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff // FILE_ALL_ACCESS
	pipeRead      = windows.FILE_GENERIC_READ
	pipeWrite     = windows.FILE_GENERIC_WRITE
)

// A live pipe's security descriptor, read back through a client's handle,
// is the one each setting asks for: a protected DACL that allows the
// current user and SYSTEM full access and nobody else anything, plus read
// and/or write access for Everyone when ReadableAll / WritableAll ask for
// it; the assured profile ignores them. The pipe's owner is the token's
// default owner.
func TestPipeSecurityDescriptorOfALivePipe(t *testing.T) {
	tok := windows.GetCurrentProcessToken()
	tu, err := tok.GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	user := tu.User.Sid.String()
	owner, err := tokenOwner(tok)
	if err != nil {
		t.Fatal(err)
	}
	const system, everyone = "S-1-5-18", "S-1-1-0"

	for i, c := range []struct {
		name     string
		set      func(*nodeipc.Config)
		everyone windows.ACCESS_MASK // 0: no entry for Everyone
	}{
		{"default", func(*nodeipc.Config) {}, 0},
		{"ReadableAll", func(c *nodeipc.Config) { c.ReadableAll = true }, pipeRead},
		{"WritableAll", func(c *nodeipc.Config) { c.WritableAll = true }, pipeWrite},
		{"ReadableAll+WritableAll", func(c *nodeipc.Config) { c.ReadableAll, c.WritableAll = true, true }, pipeRead | pipeWrite},
		{"assured", func(c *nodeipc.Config) {
			c.Parser = nodeipc.ParserAssured
			c.AllowedEvents = []string{"hello"}
			c.ReadableAll, c.WritableAll = true, true
		}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			c.set(cfg)
			path := fmt.Sprintf("/tmp/app.nodeipc-sd-%d-%d", os.Getpid(), i)
			srv, err := nodeipc.NewServer("unix", path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := winio.DialPipeAccess(ctx, nodeipc.PipeName(path), windows.GENERIC_READ|windows.GENERIC_WRITE|windows.READ_CONTROL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			h := windows.Handle(conn.(interface{ Fd() uintptr }).Fd())
			sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION|windows.OWNER_SECURITY_INFORMATION)
			if err != nil {
				t.Fatalf("reading the pipe's security descriptor: %v", err)
			}
			t.Logf("%s: %s", c.name, sd)

			if o, _, err := sd.Owner(); err != nil || o == nil || o.String() != owner {
				t.Errorf("owner %v (%v), want %s", o, err, owner)
			}
			ctl, _, err := sd.Control()
			if err != nil {
				t.Fatal(err)
			}
			if ctl&windows.SE_DACL_PROTECTED == 0 {
				t.Errorf("the DACL is not protected (control %#x)", ctl)
			}
			want := map[string]windows.ACCESS_MASK{user: pipeAllAccess, system: pipeAllAccess}
			if c.everyone != 0 {
				want[everyone] = c.everyone
			}
			got, err := allowedACEs(sd)
			if err != nil {
				t.Fatal(err)
			}
			if !sameACEs(got, want) {
				t.Errorf("the DACL allows %s, want %s", describeACEs(got), describeACEs(want))
			}
		})
	}
}

// tokenOwner returns the SID a token makes the owner of what it creates.
func tokenOwner(tok windows.Token) (string, error) {
	var n uint32
	_ = windows.GetTokenInformation(tok, windows.TokenOwner, nil, 0, &n)
	if n == 0 {
		return "", fmt.Errorf("reading the token's owner: no size")
	}
	buf := make([]byte, n)
	if err := windows.GetTokenInformation(tok, windows.TokenOwner, &buf[0], n, &n); err != nil {
		return "", fmt.Errorf("reading the token's owner: %w", err)
	}
	// TOKEN_OWNER holds one pointer to the SID, which lies in buf.
	return (*struct{ Owner *windows.SID })(unsafe.Pointer(&buf[0])).Owner.String(), nil
}

// allowedACEs returns what the DACL of sd allows each SID, generic rights
// mapped onto a file object's rights as Windows maps them when it assigns
// the descriptor (Wine keeps them as given); an entry of any other kind (a deny, an inherited or an
// inheritable one) is an error, and so is a SID named twice.
func allowedACEs(sd *windows.SECURITY_DESCRIPTOR) (map[string]windows.ACCESS_MASK, error) {
	dacl, _, err := sd.DACL()
	if err != nil {
		return nil, fmt.Errorf("the pipe has no DACL: %w", err)
	}
	out := map[string]windows.ACCESS_MASK{}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String()
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags != 0 {
			return nil, fmt.Errorf("entry %d for %s has type %d and flags %#x, want an allow entry without flags", i, sid, ace.Header.AceType, ace.Header.AceFlags)
		}
		if _, dup := out[sid]; dup {
			return nil, fmt.Errorf("%s is named twice", sid)
		}
		out[sid] = mapGeneric(ace.Mask)
	}
	return out, nil
}

// mapGeneric maps generic rights onto a file object's rights (the named
// pipe file system's generic mapping).
func mapGeneric(m windows.ACCESS_MASK) windows.ACCESS_MASK {
	for _, g := range []struct{ generic, specific windows.ACCESS_MASK }{
		{windows.GENERIC_ALL, pipeAllAccess},
		{windows.GENERIC_READ, pipeRead},
		{windows.GENERIC_WRITE, pipeWrite},
		{windows.GENERIC_EXECUTE, windows.FILE_GENERIC_EXECUTE},
	} {
		if m&g.generic != 0 {
			m = m&^g.generic | g.specific
		}
	}
	return m
}

func sameACEs(a, b map[string]windows.ACCESS_MASK) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func describeACEs(m map[string]windows.ACCESS_MASK) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s:%#x", k, uint32(v)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
