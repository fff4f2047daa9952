package api

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/everify/everify/docs"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// TestRoutesAreDocumented checks that the routes the server registers and
// the operations docs/openapi.yaml describes are the same set, with the
// same authentication and scope.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Images: images})
	if err != nil {
		t.Fatal(err)
	}

	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	var registered []string
	for _, rt := range s.routes {
		path := strings.TrimSuffix(rt.path, "{$}")
		if path == "" {
			path = "/"
		}
		key := rt.method + " " + path
		registered = append(registered, key)
		op, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not documented in openapi.yaml", key)
			continue
		}
		secured := op.Security == nil || len(*op.Security) > 0 // nil: the document's default, X-API-Key
		if secured != (rt.access == apiKey) {
			t.Errorf("%s: openapi.yaml says authenticated=%v, the server %v", key, secured, rt.access == apiKey)
		}
		if scope, _ := op.Extensions["x-scope"].(string); scope != string(rt.scope) {
			t.Errorf("%s: openapi.yaml x-scope %q, the server requires %q", key, scope, rt.scope)
		}
	}
	for key := range documented {
		if !slices.Contains(registered, key) {
			t.Errorf("openapi.yaml documents %s, which the server does not serve", key)
		}
	}
}
