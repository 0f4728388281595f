// Package tools pins the repository's developer tools (golangci-lint) at exact
// versions through the tool directives of its go.mod; it has no code. The Makefile
// builds them into bin/.
package tools
