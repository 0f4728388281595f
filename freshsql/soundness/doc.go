// Package soundness is a randomised checker of freshsql's invalidation: it builds
// small schemas and rows, runs random reads through a wrapped database with
// caching on, and random writes (alone and in transactions, committed or rolled
// back), and after every step compares what the cache serves with what the
// database answers. A cached read that differs from the database's answer after
// the write that changed it has returned is a stale read: the checker fails with
// the seed and the history that produced it.
//
// It also measures precision: of the cached entries a write evicted, the share
// whose result had not changed.
//
// The package is test support for the freshsql modules; its tests run it on
// SQLite in process (thousands of cases), and on PostgreSQL and MariaDB.
package soundness
