package seccomp

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Instruction is one classic BPF instruction, the kernel's struct sock_filter.
type Instruction struct {
	Code   uint16 // operation
	Jt, Jf uint8  // conditional jumps: instructions to skip when true, when false
	K      uint32 // operand
}

// Program is a compiled seccomp filter for this machine's architecture. It is
// what crate-init installs; it encodes to 8 bytes per instruction.
type Program []Instruction

// The opcodes a compiled Program uses; nothing else is accepted by
// UnmarshalBinary.
const (
	opLoad    = 0x20 // BPF_LD|BPF_W|BPF_ABS: A = 32 bits of seccomp_data at K
	opAnd     = 0x54 // BPF_ALU|BPF_AND|BPF_K: A &= K
	opJump    = 0x05 // BPF_JMP|BPF_JA: skip K instructions
	opJumpEq  = 0x15 // BPF_JMP|BPF_JEQ|BPF_K: A == K
	opJumpGt  = 0x25 // BPF_JMP|BPF_JGT|BPF_K: A > K
	opJumpGe  = 0x35 // BPF_JMP|BPF_JGE|BPF_K: A >= K
	opJumpSet = 0x45 // BPF_JMP|BPF_JSET|BPF_K: A & K != 0
	opReturn  = 0x06 // BPF_RET|BPF_K: the filter's verdict is K
)

const (
	instructionSize = 8
	// maxInstructions is the kernel's BPF_MAXINSNS.
	maxInstructions = 4096
	// seccompDataSize is sizeof(struct seccomp_data): nr, arch, ip, args[6].
	seccompDataSize = 64
)

// MarshalBinary encodes p as an array of struct sock_filter, little-endian
// (the kernel's own layout on amd64 and arm64): code, jt, jf, k.
func (p Program) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(p)*instructionSize)
	for _, in := range p {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded, and checks that it is a
// program profile.Compile could have written: known opcodes, loads inside
// seccomp_data, jumps inside the program, a return at the end.
func (p *Program) UnmarshalBinary(b []byte) error {
	if len(b)%instructionSize != 0 {
		return fmt.Errorf("decode seccomp program: %d bytes is not a whole number of %d-byte instructions", len(b), instructionSize)
	}
	prog := make(Program, len(b)/instructionSize)
	for i := range prog {
		c := b[i*instructionSize:]
		prog[i] = Instruction{
			Code: binary.LittleEndian.Uint16(c),
			Jt:   c[2],
			Jf:   c[3],
			K:    binary.LittleEndian.Uint32(c[4:]),
		}
	}
	if err := prog.check(); err != nil {
		return fmt.Errorf("decode seccomp program: %w", err)
	}
	*p = prog
	return nil
}

// MarshalText encodes p as base64 of MarshalBinary, so that a Program can be a
// field of a JSON document (crate's spec) as one compact string.
func (p Program) MarshalText() ([]byte, error) {
	b, _ := p.MarshalBinary()
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes what MarshalText encoded.
func (p *Program) UnmarshalText(text []byte) error {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(b, text)
	if err != nil {
		return fmt.Errorf("decode seccomp program: %w", err)
	}
	return p.UnmarshalBinary(b[:n])
}

// check reports why p is not a program profile.Compile could have written.
// The kernel checks again when the program is installed; checking first turns
// bytes damaged on the way into a clear error.
func (p Program) check() error {
	n := len(p)
	if n == 0 {
		return fmt.Errorf("empty program")
	}
	if n > maxInstructions {
		return fmt.Errorf("%d instructions, more than the kernel's limit of %d", n, maxInstructions)
	}
	inside := func(i int, skip uint64) bool { return uint64(i)+1+skip < uint64(n) }
	for i, in := range p {
		switch in.Code {
		case opLoad:
			if in.K%4 != 0 || in.K >= seccompDataSize {
				return fmt.Errorf("instruction %d loads offset %d, outside struct seccomp_data", i, in.K)
			}
		case opAnd, opReturn:
		case opJump:
			if !inside(i, uint64(in.K)) {
				return fmt.Errorf("instruction %d jumps past the end", i)
			}
		case opJumpEq, opJumpGt, opJumpGe, opJumpSet:
			if !inside(i, uint64(in.Jt)) || !inside(i, uint64(in.Jf)) {
				return fmt.Errorf("instruction %d jumps past the end", i)
			}
		default:
			return fmt.Errorf("instruction %d has unknown opcode %#x", i, in.Code)
		}
	}
	if p[n-1].Code != opReturn {
		return fmt.Errorf("the last instruction is not a return")
	}
	return nil
}
