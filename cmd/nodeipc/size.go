package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag holding a number of bytes, written as 1048576, 512KiB,
// 16MiB, 1GiB (powers of 1024; K, M and G mean the same) or 10MB, 1GB
// (powers of 1000). Zero means the flag was not given.
type byteSize int

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

func (s *byteSize) Set(v string) error {
	t := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return fmt.Errorf("want a positive size such as 1048576, 512KiB, 16MiB or 1GiB")
	}
	b := n * float64(mult)
	if b < 1 || b > math.MaxInt32 {
		return fmt.Errorf("want 1 byte to 2GiB")
	}
	*s = byteSize(b)
	return nil
}

func (s *byteSize) Type() string { return "SIZE" }

func (s *byteSize) String() string {
	switch n := int(*s); {
	case n == 0:
		return ""
	case n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "GiB"
	case n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n)
	}
}
