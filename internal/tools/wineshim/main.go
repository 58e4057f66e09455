// Command wineshim writes a minimal PE32+ DLL named bcryptprimitives.dll whose only
// export, ProcessPrng, is a forwarder to advapi32.SystemFunction036
// (RtlGenRandom). Wine < 8.13 lacks bcryptprimitives.dll, which the Go
// runtime (>= 1.22) requires on Windows.
package main

import (
	"encoding/binary"
	"os"
)

func main() {
	out := "bcryptprimitives.dll"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	const (
		fileAlign = 0x200
		sectAlign = 0x1000
		secRVA    = 0x1000
	)
	// --- export section ---
	sec := make([]byte, 0, 256)
	le := binary.LittleEndian
	put32 := func(b []byte, off int, v uint32) { le.PutUint32(b[off:], v) }
	sec = append(sec, make([]byte, 40)...) // IMAGE_EXPORT_DIRECTORY
	funcs := len(sec)
	sec = append(sec, 0, 0, 0, 0)
	names := len(sec)
	sec = append(sec, 0, 0, 0, 0)
	ords := len(sec)
	sec = append(sec, 0, 0)
	dllName := len(sec)
	sec = append(sec, "bcryptprimitives.dll\x00"...)
	fnName := len(sec)
	sec = append(sec, "ProcessPrng\x00"...)
	fwd := len(sec)
	sec = append(sec, "advapi32.SystemFunction036\x00"...)
	expSize := len(sec)
	put32(sec, 12, secRVA+uint32(dllName)) // Name
	put32(sec, 16, 1)                      // Base
	put32(sec, 20, 1)                      // NumberOfFunctions
	put32(sec, 24, 1)                      // NumberOfNames
	put32(sec, 28, secRVA+uint32(funcs))
	put32(sec, 32, secRVA+uint32(names))
	put32(sec, 36, secRVA+uint32(ords))
	put32(sec, funcs, secRVA+uint32(fwd)) // forwarder: RVA inside export dir
	put32(sec, names, secRVA+uint32(fnName))
	le.PutUint16(sec[ords:], 0)
	raw := make([]byte, fileAlign)
	copy(raw, sec)

	// --- headers ---
	h := make([]byte, fileAlign)
	h[0], h[1] = 'M', 'Z'
	put32(h, 0x3c, 0x40)
	copy(h[0x40:], "PE\x00\x00")
	c := 0x44 // COFF header
	le.PutUint16(h[c:], 0x8664)
	le.PutUint16(h[c+2:], 1)       // sections
	le.PutUint16(h[c+16:], 240)    // SizeOfOptionalHeader
	le.PutUint16(h[c+18:], 0x2022) // EXECUTABLE_IMAGE|LARGE_ADDRESS_AWARE|DLL
	o := c + 20                    // optional header
	le.PutUint16(h[o:], 0x20b)
	h[o+2] = 14
	put32(h, o+8, fileAlign) // SizeOfInitializedData
	put32(h, o+20, secRVA)   // BaseOfCode
	le.PutUint64(h[o+24:], 0x180000000)
	put32(h, o+32, sectAlign)
	put32(h, o+36, fileAlign)
	le.PutUint16(h[o+40:], 6)        // OS version
	le.PutUint16(h[o+48:], 6)        // subsystem version
	put32(h, o+56, secRVA+sectAlign) // SizeOfImage
	put32(h, o+60, fileAlign)        // SizeOfHeaders
	le.PutUint16(h[o+68:], 3)        // console subsystem
	le.PutUint16(h[o+70:], 0x0160)   // HIGH_ENTROPY_VA|DYNAMIC_BASE|NX_COMPAT
	le.PutUint64(h[o+72:], 0x100000)
	le.PutUint64(h[o+80:], 0x1000)
	le.PutUint64(h[o+88:], 0x100000)
	le.PutUint64(h[o+96:], 0x1000)
	put32(h, o+108, 16) // NumberOfRvaAndSizes
	put32(h, o+112, secRVA)
	put32(h, o+116, uint32(expSize))
	s := o + 240 // section header
	copy(h[s:], ".edata")
	put32(h, s+8, uint32(expSize))
	put32(h, s+12, secRVA)
	put32(h, s+16, fileAlign)
	put32(h, s+20, fileAlign)
	put32(h, s+36, 0x40000040) // INITIALIZED_DATA|MEM_READ
	if err := os.WriteFile(out, append(h, raw...), 0o644); err != nil {
		panic(err)
	}
}
