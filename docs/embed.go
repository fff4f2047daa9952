// Package docs embeds the written API contract, openapi.yaml, so that the
// server can serve it and render its documentation page from it.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
