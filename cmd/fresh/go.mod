module github.com/freshcache/fresh/cmd/fresh

go 1.25

require github.com/freshcache/fresh v0.0.0

require github.com/maypok86/otter/v2 v2.4.0 // indirect

replace github.com/freshcache/fresh => ../..
