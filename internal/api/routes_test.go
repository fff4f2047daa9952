package api

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/everify/everify/docs"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// TestRoutesAreDocumented checks that the routes the server registers (the
// demo routes included) and the operations docs/openapi.yaml describes are
// the same set, with the same authentication and scope.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), t.TempDir(), store.Options{Sealer: seal.NewSealer(seal.NewKeyring())})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Images: images, DemoKey: &biometric.APIKey{ID: "key_demo", Tenant: "demo"}})
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
		scheme := "ApiKeyAuth" // the document's default
		if op.Security != nil {
			scheme = ""
			for _, req := range *op.Security {
				for name := range req {
					scheme = name
				}
			}
		}
		if want := map[access]string{apiKey: "ApiKeyAuth", sessionToken: "SessionToken"}[rt.access]; scheme != want {
			t.Errorf("%s: openapi.yaml says security %q, the server %q", key, scheme, want)
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
