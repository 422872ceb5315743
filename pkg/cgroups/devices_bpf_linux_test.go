package cgroups

import (
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/crate-run/crate/pkg/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// request is what the kernel asks a device program: may this process do
// access (some of BPF_DEVCG_ACC_*) to the device typ major:minor?
type request struct {
	typ          string // "c" or "b"
	major, minor uint32
	access       string // some of "rwm"
}

func (q request) String() string {
	return fmt.Sprintf("%s %d:%d %s", q.typ, q.major, q.minor, q.access)
}

// allowedByRules is the meaning of an allow-list, written plainly: some rule
// matches the device and allows every access asked for.
func allowedByRules(rules []specs.LinuxDeviceCgroup, q request) bool {
	for _, r := range allowRules(rules) {
		if !isAll(r) && r.Type != q.typ {
			continue
		}
		if !isWildcard(r.Major) && *r.Major != int64(q.major) {
			continue
		}
		if !isWildcard(r.Minor) && *r.Minor != int64(q.minor) {
			continue
		}
		if accessBits(q.access)&^accessBits(r.Access) == 0 {
			return true
		}
	}
	return false
}

// runDeviceProgram runs the bytes the kernel would load, on an interpreter
// of the few eBPF instructions deviceProgram uses, and returns r0.
func runDeviceProgram(t *testing.T, code []byte, q request) uint64 {
	t.Helper()
	typ := uint32(unix.BPF_DEVCG_DEV_CHAR)
	if q.typ == "b" {
		typ = unix.BPF_DEVCG_DEV_BLOCK
	}
	// struct bpf_cgroup_dev_ctx
	ctx := []uint32{uint32(accessBits(q.access))<<16 | typ, q.major, q.minor}
	// r1 holds the context on entry; a marker value stands for its address.
	const ctxPointer = 0xc7c7
	var reg [11]uint64
	reg[1] = ctxPointer
	bo := binary.NativeEndian
	for pc, steps := 0, 0; ; pc, steps = pc+1, steps+1 {
		if pc < 0 || 8*pc+8 > len(code) || steps > 10000 {
			t.Fatalf("%v: the program ran off its end or looped (pc %d)", q, pc)
		}
		ins := code[8*pc : 8*pc+8]
		op, dst, src := ins[0], ins[1]&0x0f, ins[1]>>4
		off := int16(bo.Uint16(ins[2:]))
		imm := int32(bo.Uint32(ins[4:]))
		// The operand: the immediate (BPF_K) or the source register (BPF_X).
		val := uint64(int64(imm))
		if op&0x08 != 0 {
			val = reg[src]
		}
		switch class := op & 0x07; {
		case op == 0x61: // ldxw dst, [src+off]: a field of the context
			if reg[src] != ctxPointer || off%4 != 0 || off < 0 || int(off/4) >= len(ctx) {
				t.Fatalf("%v: pc %d: load from r%d+%d, want the context", q, pc, src, off)
			}
			reg[dst] = uint64(ctx[off/4])
		case class == 0x04 || class == 0x07: // alu (32-bit) or alu64
			var v uint64
			switch op & 0xf0 {
			case 0xb0:
				v = val
			case 0x50:
				v = reg[dst] & val
			case 0x40:
				v = reg[dst] | val
			case 0xa0:
				v = reg[dst] ^ val
			case 0x70:
				v = reg[dst] >> (val & 63)
			default:
				t.Fatalf("%v: pc %d: alu op %#x not in the interpreter", q, pc, op)
			}
			if class == 0x04 {
				v = uint64(uint32(v)) // 32-bit operations zero the upper half
			}
			reg[dst] = v
		case op == 0x05: // ja
			pc += int(off)
		case op == 0x15: // jeq
			if reg[dst] == val {
				pc += int(off)
			}
		case op == 0x55: // jne
			if reg[dst] != val {
				pc += int(off)
			}
		case op == 0x95: // exit
			return reg[0]
		default:
			t.Fatalf("%v: pc %d: opcode %#x not in the interpreter", q, pc, op)
		}
	}
}

// unreachable lists the instructions of code that no path from the first
// one reaches: the verifier rejects a program that has any.
func unreachable(code []byte) []int {
	n := len(code) / 8
	seen := make([]bool, n)
	todo := []int{0}
	for len(todo) > 0 {
		pc := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if pc < 0 || pc >= n || seen[pc] {
			continue
		}
		seen[pc] = true
		op, off := code[8*pc], int(int16(binary.NativeEndian.Uint16(code[8*pc+2:])))
		switch {
		case op == 0x95: // exit
		case op == 0x05: // ja
			todo = append(todo, pc+1+off)
		case op&0x07 == 0x05: // a conditional jump
			todo = append(todo, pc+1, pc+1+off)
		default:
			todo = append(todo, pc+1)
		}
	}
	var out []int
	for pc, ok := range seen {
		if !ok {
			out = append(out, pc)
		}
	}
	return out
}

// TestDeviceProgramDecidesLikeTheRules runs the assembled program on every
// combination of a few device numbers and accesses, and compares its answer
// with the rules' plain meaning.
func TestDeviceProgramDecidesLikeTheRules(t *testing.T) {
	lists := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
	}{
		{"docker defaults", spec.DefaultDeviceRules()},
		{"deny everything", []specs.LinuxDeviceCgroup{}},
		{"allow everything", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}},
		{"OCI form", []specs.LinuxDeviceCgroup{denyAll, dev("c", 1, 3, "r"), dev("c", 1, 3, "w")}},
		{"read-only block major", []specs.LinuxDeviceCgroup{dev("b", 8, -1, "r"), dev("c", -1, 5, "rw")}},
		{"largest numbers", []specs.LinuxDeviceCgroup{dev("c", 4095, 1048575, "m")}},
		{"allow everything after other rules", []specs.LinuxDeviceCgroup{dev("c", 1, 3, "r"), {Allow: true, Access: "rwm"}, dev("b", 8, 0, "r")}},
	}
	var reqs []request
	for _, typ := range []string{"c", "b"} {
		for _, major := range []uint32{0, 1, 5, 8, 10, 136, 4095} {
			for _, minor := range []uint32{0, 1, 2, 3, 5, 9, 200, 1048575} {
				for _, access := range []string{"m", "r", "w", "rw", "rwm"} {
					reqs = append(reqs, request{typ, major, minor, access})
				}
			}
		}
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			code, err := assemble(deviceProgram(l.rules))
			if err != nil {
				t.Fatal(err)
			}
			if pcs := unreachable(code); len(pcs) > 0 {
				t.Errorf("instructions %v are unreachable", pcs)
			}
			allowed := 0
			for _, q := range reqs {
				want := allowedByRules(l.rules, q)
				got := runDeviceProgram(t, code, q)
				if got != 0 && got != 1 || (got == 1) != want {
					t.Errorf("%v: program returns %d, want allowed=%v", q, got, want)
				}
				if want {
					allowed++
				}
			}
			t.Logf("%d instructions; %d of %d requests allowed", len(code)/8, allowed, len(reqs))
		})
	}
}

// TestDeviceProgramSpotChecks pins the cases the feature exists for, in case
// allowedByRules and the program were wrong the same way.
func TestDeviceProgramSpotChecks(t *testing.T) {
	code, err := assemble(deviceProgram(spec.DefaultDeviceRules()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    request
		want uint64
	}{
		{request{"c", 1, 3, "rw"}, 1},    // open /dev/null
		{request{"c", 136, 7, "rw"}, 1},  // a pseudo-terminal
		{request{"b", 8, 0, "m"}, 1},     // mknod /dev/sda
		{request{"b", 8, 0, "r"}, 0},     // ... but not read it
		{request{"c", 1, 1, "r"}, 0},     // /dev/mem
		{request{"c", 10, 229, "rw"}, 0}, // /dev/fuse
	} {
		if got := runDeviceProgram(t, code, tt.q); got != tt.want {
			t.Errorf("%v: program returns %d, want %d", tt.q, got, tt.want)
		}
	}
}

// TestBPFAttrLayout checks the attribute structs against linux/bpf.h.
func TestBPFAttrLayout(t *testing.T) {
	var load bpfProgLoadAttr
	var attach bpfProgAttachAttr
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof load attr", unsafe.Sizeof(load), 72},
		{"insns", unsafe.Offsetof(load.insns), 8},
		{"license", unsafe.Offsetof(load.license), 16},
		{"log_buf", unsafe.Offsetof(load.logBuf), 32},
		{"prog_name", unsafe.Offsetof(load.progName), 48},
		{"expected_attach_type", unsafe.Offsetof(load.expectedAttachType), 68},
		{"sizeof attach attr", unsafe.Sizeof(attach), 20},
		{"attach_flags", unsafe.Offsetof(attach.attachFlags), 12},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}
