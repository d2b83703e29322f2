// Package bpf holds scanwatch's XDP program and the Go bindings bpf2go
// generates for it. The generated scanwatch_bpfel.go and .o are committed;
// 'make generate' rebuilds them and a test fails if they drift from the C.
package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type event -type event4 -type http_event Scanwatch scanwatch.c -- -I/usr/include/x86_64-linux-gnu
