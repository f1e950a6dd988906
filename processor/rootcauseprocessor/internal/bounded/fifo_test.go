package bounded

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFIFOForgetsTheOldestKeyPut(t *testing.T) {
	f := NewFIFO[string, int](2)
	_, forgot := f.Put("a", 1)
	assert.False(t, forgot)
	f.Put("b", 2)
	f.Put("a", 10) // an update does not make "a" younger
	v, forgot := f.Put("c", 3)
	assert.True(t, forgot)
	assert.Equal(t, 10, v, "the oldest key put, a, was forgotten with its latest value")
	_, ok := f.Get("a")
	assert.False(t, ok)
	got, ok := f.Get("b")
	assert.True(t, ok)
	assert.Equal(t, 2, got)
	assert.Equal(t, 2, f.Len())
}

func TestFIFOSkipsDeletedKeys(t *testing.T) {
	f := NewFIFO[string, int](2)
	f.Put("a", 1)
	f.Put("b", 2)
	f.Delete("a")
	_, forgot := f.Put("c", 3)
	assert.False(t, forgot, "a's slot was free: nothing held was forgotten")
	assert.Equal(t, 2, f.Len())
	_, forgot = f.Put("d", 4)
	assert.True(t, forgot, "b is now the oldest")
	_, ok := f.Get("b")
	assert.False(t, ok)
}

func TestFIFODisabledAndDeleteFunc(t *testing.T) {
	off := NewFIFO[string, int](0)
	off.Put("a", 1)
	assert.Zero(t, off.Len(), "max 0 keeps nothing")

	f := NewFIFO[int, int](10)
	for i := range 10 {
		f.Put(i, i*i)
	}
	f.DeleteFunc(func(k, _ int) bool { return k%2 == 0 })
	assert.Equal(t, 5, f.Len())
	sum := 0
	for k, v := range f.All() {
		assert.Equal(t, k*k, v)
		sum += k
	}
	assert.Equal(t, 1+3+5+7+9, sum)
}

func TestTallyTakesWhatWasCountedSinceTheLastTake(t *testing.T) {
	var tl Tally
	tl.Add(2)
	tl.Add(1)
	assert.Equal(t, int64(3), tl.Take())
	assert.Zero(t, tl.Take(), "taken counts are not counted twice")
}
