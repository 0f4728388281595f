package freshsqlite

import "syscall"

// Magic numbers of the file systems that networkFileSystem reports (statfs(2)).
const (
	magicNFS  = 0x6969
	magicSMB  = 0x517b
	magicSMB2 = 0xfe534d42
	magicCIFS = 0xff534d42
	magicFUSE = 0x65735546
	magic9P   = 0x01021997
	magicCeph = 0x00c36400
	magicAFS  = 0x5346414f
)

// networkFileSystem returns the kind of network file system dir is on, or "" for a
// local one or when it cannot tell.
func networkFileSystem(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	return fileSystemKind(int64(st.Type)) //nolint:unconvert // Statfs_t.Type is an int32 or a uint32 on some architectures
}

// fileSystemKind names the network file system of statfs magic number t, or
// returns "".
func fileSystemKind(t int64) string {
	switch uint32(t) {
	case magicNFS:
		return "NFS"
	case magicSMB, magicSMB2:
		return "SMB"
	case magicCIFS:
		return "CIFS"
	case magicFUSE:
		return "FUSE"
	case magic9P:
		return "9P"
	case magicCeph:
		return "Ceph"
	case magicAFS:
		return "AFS"
	}
	return ""
}
