package seccomp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// tiny is a valid program: load the syscall number, allow 39, else EPERM.
var tiny = Program{
	{Code: opLoad, K: 0},
	{Code: opJumpEq, Jt: 0, Jf: 1, K: 39},
	{Code: opReturn, K: 0x7fff0000},
	{Code: opReturn, K: 0x00050001},
}

func TestProgramRoundTrip(t *testing.T) {
	b, err := tiny.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(tiny)*8 {
		t.Fatalf("%d bytes for %d instructions, want 8 each", len(b), len(tiny))
	}
	// struct sock_filter, little-endian: code, jt, jf, k.
	if want := []byte{0x15, 0, 0, 1, 39, 0, 0, 0}; !bytes.Equal(b[8:16], want) {
		t.Errorf("second instruction encodes as % x, want % x", b[8:16], want)
	}
	var back Program
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !equalPrograms(back, tiny) {
		t.Errorf("round trip changed the program: %v", back)
	}

	// As a JSON field, a Program is one base64 string.
	doc, err := json.Marshal(struct{ Seccomp Program }{tiny})
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON struct{ Seccomp Program }
	if err := json.Unmarshal(doc, &fromJSON); err != nil {
		t.Fatalf("unmarshal %s: %v", doc, err)
	}
	if !equalPrograms(fromJSON.Seccomp, tiny) {
		t.Errorf("JSON round trip changed the program: %v", fromJSON.Seccomp)
	}
}

func TestProgramRejectsGarbage(t *testing.T) {
	encode := func(p Program) []byte { b, _ := p.MarshalBinary(); return b }
	with := func(i int, in Instruction) []byte {
		p := append(Program(nil), tiny...)
		p[i] = in
		return encode(p)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty program"},
		{"partial instruction", encode(tiny)[:13], "13 bytes is not a whole number"},
		{"unknown opcode", with(1, Instruction{Code: 0x07}), "unknown opcode 0x7"},
		{"load outside seccomp_data", with(0, Instruction{Code: opLoad, K: 64}), "outside struct seccomp_data"},
		{"unaligned load", with(0, Instruction{Code: opLoad, K: 2}), "outside struct seccomp_data"},
		{"conditional jump past the end", with(1, Instruction{Code: opJumpEq, Jt: 2}), "jumps past the end"},
		{"jump past the end", with(1, Instruction{Code: opJump, K: 2}), "jumps past the end"},
		{"no return at the end", encode(tiny[:2]), "jumps past the end"},
		{"falls off the end", encode(tiny[:1]), "not a return"},
		{"too long", encode(make(Program, maxInstructions+1)), "more than the kernel's limit"},
		{"random bytes", []byte("this is not a BPF program, honest"), "not a whole number"},
		{"random instructions", []byte("this is not a BPF program, hon!!"), "unknown opcode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Program
			err := p.UnmarshalBinary(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UnmarshalBinary: %v, want an error with %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("a rejected program was kept: %v", p)
			}
		})
	}

	var p Program
	if err := p.UnmarshalText([]byte("not base64!")); err == nil {
		t.Error("UnmarshalText accepted text that is not base64")
	}
}

func equalPrograms(a, b Program) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
