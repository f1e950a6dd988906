package attrvalue

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestAStatusCodeReadsTheSameWhateverItsType(t *testing.T) {
	for _, v := range []pcommon.Value{pcommon.NewValueInt(503), pcommon.NewValueDouble(503), pcommon.NewValueStr("503")} {
		assert.Equal(t, int64(503), Int(v), v.Type().String())
	}
	assert.Zero(t, Int(pcommon.NewValueStr("5xx")), "not a number")
	assert.Zero(t, Int(pcommon.NewValueBool(true)))
}

func TestTheCurrentAttributeNameComesFirst(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("http.method", "GET")
	assert.Equal(t, "GET", Str(m, "http.request.method", "http.method"), "the older name when only it is there")
	m.PutStr("http.request.method", "POST")
	assert.Equal(t, "POST", Str(m, "http.request.method", "http.method"))
	assert.Empty(t, Str(m, "http.route"))
}
