//go:build !windows

package nodeipc_test

func underWine() bool { return false }
