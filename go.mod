module github.com/freshcache/fresh

go 1.25

require github.com/maypok86/otter/v2 v2.4.0
