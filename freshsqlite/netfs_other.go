//go:build !linux

package freshsqlite

// networkFileSystem returns "": outside Linux, the bus does not tell network file
// systems from local ones.
func networkFileSystem(string) string { return "" }
