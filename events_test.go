package nodeipc

import (
	"slices"
	"testing"
)

// TestRegistryDispatchOrderAndOff covers what a received event reaches: its
// own handlers in registration order, then the wildcard ones, and nothing
// once Off removed them; the wildcard handlers are added and removed like
// any other, and an event named "*" reaches them once.
func TestRegistryDispatchOrderAndOff(t *testing.T) {
	var r registry
	var got []string
	deliver := func(typ string) []string {
		got = nil
		r.dispatch([]byte(typ), []byte(`1`), nil, false)
		return got
	}
	r.dispatch([]byte("a"), nil, nil, false) // nothing registered: no panic, nothing delivered

	r.on("a", func(m *Message) { got = append(got, "a1:"+m.Type) })
	r.on(WildcardEvent, func(m *Message) { got = append(got, "*1:"+m.Type) })
	r.on("a", func(m *Message) { got = append(got, "a2:"+m.Type) })
	r.on(WildcardEvent, func(m *Message) { got = append(got, "*2:"+m.Type) })
	if want := []string{"a1:a", "a2:a", "*1:a", "*2:a"}; !slices.Equal(deliver("a"), want) {
		t.Errorf("a: got %q, want %q", got, want)
	}
	if want := []string{"*1:b", "*2:b"}; !slices.Equal(deliver("b"), want) {
		t.Errorf("b: got %q, want %q", got, want)
	}
	if want := []string{"*1:*", "*2:*"}; !slices.Equal(deliver("*"), want) {
		t.Errorf("an event named *: got %q, want %q", got, want)
	}

	r.off(WildcardEvent)
	if want := []string{"a1:a", "a2:a"}; !slices.Equal(deliver("a"), want) {
		t.Errorf("a after Off(*): got %q, want %q", got, want)
	}
	if d := deliver("b"); len(d) != 0 {
		t.Errorf("b after Off(*): got %q, want nothing", d)
	}
	r.off("a")
	if d := deliver("a"); len(d) != 0 {
		t.Errorf("a after Off(a): got %q, want nothing", d)
	}
	r.on(WildcardEvent, func(m *Message) { got = append(got, "*3:"+m.Type) })
	if want := []string{"*3:a"}; !slices.Equal(deliver("a"), want) {
		t.Errorf("a with a new wildcard handler: got %q, want %q", got, want)
	}
}
