package cgroups

import (
	"encoding/binary"
	"fmt"
)

// The handful of eBPF instructions the device program needs, encoded by
// hand: each is struct bpf_insn from linux/bpf.h, eight bytes,
//
//	u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm;
//
// in the host's byte order. (cilium/ebpf's asm package did this before; it
// brought encoding/xml and go/format into crate, 0.1 ms of every start.)

// bpfReg is one of the program's registers, r0 to r10.
type bpfReg uint8

const (
	r0 bpfReg = iota
	r1
	r2
	r3
	r4
	r5
	r6
)

// Opcodes: an instruction class, an operation and an operand source.
const (
	bpfLdxMemW = 0x61 // dst = *(u32 *)(src + off)
	bpfAlu32   = 0x04 // 32-bit arithmetic: the upper half of dst is zeroed
	bpfAlu64   = 0x07
	bpfJeqImm  = 0x15 // if dst == imm goto pc+1+off
	bpfExit    = 0x95 // return r0
	bpfSrcReg  = 0x08 // the operand is src, not imm

	bpfMov = 0xb0
	bpfOr  = 0x40
	bpfAnd = 0x50
	bpfRsh = 0x70
	bpfXor = 0xa0
)

// bpfInsn is one instruction; a jump names its target by label, and
// assemble turns the label into an offset.
type bpfInsn struct {
	code     uint8
	dst, src bpfReg
	off      int16
	imm      int32
	label    string // this instruction's, for jumps to it
	jumpTo   string // the label a jump goes to
}

func loadWord(dst, src bpfReg, off int16) bpfInsn {
	return bpfInsn{code: bpfLdxMemW, dst: dst, src: src, off: off}
}

// alu32Imm is dst = dst OP imm, in 32 bits.
func alu32Imm(op uint8, dst bpfReg, imm int32) bpfInsn {
	return bpfInsn{code: bpfAlu32 | op, dst: dst, imm: imm}
}

// alu32Reg is dst = dst OP src, in 32 bits (for bpfMov, dst = src).
func alu32Reg(op uint8, dst, src bpfReg) bpfInsn {
	return bpfInsn{code: bpfAlu32 | op | bpfSrcReg, dst: dst, src: src}
}

// returnImm sets r0 and exits; label names the first of the two.
func returnImm(v int32, label string) []bpfInsn {
	return []bpfInsn{{code: bpfAlu64 | bpfMov, dst: r0, imm: v, label: label}, {code: bpfExit}}
}

func jumpIfZero(dst bpfReg, label string) bpfInsn {
	return bpfInsn{code: bpfJeqImm, dst: dst, jumpTo: label}
}

// assemble encodes insns, resolving each jump to its label.
func assemble(insns []bpfInsn) ([]byte, error) {
	at := map[string]int{}
	for i, in := range insns {
		if in.label != "" {
			at[in.label] = i
		}
	}
	bo := binary.NativeEndian
	little := bo.Uint16([]byte{1, 0}) == 1
	code := make([]byte, 8*len(insns))
	for i, in := range insns {
		if in.jumpTo != "" {
			target, ok := at[in.jumpTo]
			if !ok {
				return nil, fmt.Errorf("assemble: jump to unknown label %q", in.jumpTo)
			}
			in.off = int16(target - (i + 1))
		}
		b := code[8*i:]
		b[0] = in.code
		// The register nibbles follow the bit-field order: dst first.
		if little {
			b[1] = uint8(in.dst) | uint8(in.src)<<4
		} else {
			b[1] = uint8(in.dst)<<4 | uint8(in.src)
		}
		bo.PutUint16(b[2:], uint16(in.off))
		bo.PutUint32(b[4:], uint32(in.imm))
	}
	return code, nil
}
