package caches

import theine "github.com/Yiling-J/theine-go"

type theineCache struct{ c *theine.Cache[uint64, uint64] }

func theineSpec() Spec {
	return Spec{
		Name:    Theine,
		Note:    "theine-go v0.6.3: adaptive W-TinyLFU, `NewBuilder(capacity)`, cost 1 per entry; no tags.",
		Bounded: true,
		New: func(capacity int) (Cache, error) {
			c, err := theine.NewBuilder[uint64, uint64](int64(capacity)).Build()
			if err != nil {
				return nil, err
			}
			return theineCache{c}, nil
		},
	}
}

func (t theineCache) Name() string { return Theine }

func (t theineCache) Get(k uint64) (uint64, bool) { return t.c.Get(k) }

func (t theineCache) Set(k, v uint64) bool { return t.c.Set(k, v, 1) }

func (t theineCache) Len() int { return t.c.Len() }

func (t theineCache) Close() error {
	t.c.Close()
	return nil
}
