package api

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/everify/everify/docs"
)

//go:embed docs.html.tmpl
var docsTemplateFS embed.FS

var docsTemplate = template.Must(template.New("docs.html.tmpl").Funcs(template.FuncMap{"paragraphs": paragraphs}).
	ParseFS(docsTemplateFS, "docs.html.tmpl"))

// paragraphs splits text at blank lines and joins the lines of each
// paragraph, undoing the line wrapping of the YAML source.
func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// serveOpenAPI serves docs/openapi.yaml.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(docs.OpenAPI)))
	if r.Method != http.MethodHead {
		w.Write(docs.OpenAPI) //nolint:errcheck // the client went away
	}
	return nil
}

// serveDocs serves the documentation page rendered from the OpenAPI file.
func (s *Server) serveDocs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(s.docsHTML)))
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if r.Method != http.MethodHead {
		w.Write(s.docsHTML) //nolint:errcheck // the client went away
	}
	return nil
}

// The view of the OpenAPI document that the template renders.
type (
	docsView struct {
		Title, Version, Description string
		Operations                  []docsOperation
		ErrorCodes                  []docsErrorCode
	}
	docsOperation struct {
		Anchor, Method, Path, Summary, Description string
		Auth                                       string
		Params                                     []docsField
		Body                                       []docsField
		Responses                                  []docsResponse
	}
	docsResponse struct {
		Status, Description string
		Fields              []docsField
	}
	docsField struct {
		Name, Type, Description string
		Required                bool
	}
	docsErrorCode struct {
		Code        string `json:"code"`
		Status      int    `json:"status"`
		Description string `json:"description"`
	}
)

// renderDocs renders the documentation page from an OpenAPI document.
func renderDocs(spec []byte) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("loading openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	view := docsView{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	if codes, ok := doc.Extensions["x-error-codes"]; ok {
		if err := remarshal(codes, &view.ErrorCodes); err != nil {
			return nil, fmt.Errorf("openapi.yaml x-error-codes: %w", err)
		}
	}
	type entry struct {
		tag          int
		path, method string
		op           *openapi3.Operation
	}
	var ops []entry
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			tag := len(doc.Tags)
			if len(op.Tags) > 0 {
				if i := slices.IndexFunc(doc.Tags, func(t *openapi3.Tag) bool { return t.Name == op.Tags[0] }); i >= 0 {
					tag = i
				}
			}
			ops = append(ops, entry{tag, path, method, op})
		}
	}
	// In the order of the document's tags (the API first), then by path.
	slices.SortFunc(ops, func(a, b entry) int {
		if a.tag != b.tag {
			return a.tag - b.tag
		}
		return strings.Compare(a.path+" "+a.method, b.path+" "+b.method)
	})
	for _, e := range ops {
		view.Operations = append(view.Operations, docsOp(doc.Security, e.method, e.path, e.op))
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, view); err != nil {
		return nil, fmt.Errorf("rendering the docs page: %w", err)
	}
	return buf.Bytes(), nil
}

func docsOp(security openapi3.SecurityRequirements, method, path string, op *openapi3.Operation) docsOperation {
	d := docsOperation{
		Anchor: strings.ToLower(method) + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(path),
		Method: method, Path: path, Summary: op.Summary, Description: op.Description,
		Auth: "none",
	}
	if op.Security != nil {
		security = *op.Security
	}
	if len(security) > 0 {
		var names []string
		for _, req := range security {
			for name := range req {
				names = append(names, name)
			}
		}
		d.Auth = strings.Join(names, " or ")
	}
	if scope, ok := op.Extensions["x-scope"].(string); ok {
		d.Auth += ", scope " + scope
	}
	for _, p := range op.Parameters {
		d.Params = append(d.Params, docsField{Name: p.Value.Name + " (" + p.Value.In + ")",
			Type: schemaType(p.Value.Schema), Description: p.Value.Description, Required: p.Value.Required})
	}
	if op.RequestBody != nil {
		for _, ct := range []string{"application/json", "multipart/form-data"} {
			if mt := op.RequestBody.Value.Content.Get(ct); mt != nil {
				d.Body = fields("", mt.Schema, 0)
				break
			}
		}
	}
	codes := op.Responses.Map()
	statuses := make([]string, 0, len(codes))
	for st := range codes {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	for _, st := range statuses {
		resp := codes[st].Value
		r := docsResponse{Status: st, Description: deref(resp.Description)}
		if mt := resp.Content.Get("application/json"); mt != nil && strings.HasPrefix(st, "2") {
			r.Fields = fields("", mt.Schema, 0)
		}
		d.Responses = append(d.Responses, r)
	}
	return d
}

// fields flattens an object schema into dotted field names, three levels deep.
func fields(prefix string, ref *openapi3.SchemaRef, depth int) []docsField {
	if ref == nil || ref.Value == nil || depth > 3 {
		return nil
	}
	sc := ref.Value
	names := make([]string, 0, len(sc.Properties))
	for name := range sc.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []docsField
	for _, name := range names {
		p := sc.Properties[name]
		full := prefix + name
		out = append(out, docsField{Name: full, Type: schemaType(p), Description: p.Value.Description,
			Required: slices.Contains(sc.Required, name)})
		switch {
		case p.Value.Type.Is("object"):
			out = append(out, fields(full+".", p, depth+1)...)
		case p.Value.Type.Is("array") && p.Value.Items != nil && p.Value.Items.Value.Type.Is("object"):
			out = append(out, fields(full+"[].", p.Value.Items, depth+1)...)
		}
	}
	return out
}

func schemaType(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil || ref.Value.Type == nil {
		return ""
	}
	t := strings.Join(ref.Value.Type.Slice(), "|")
	if t == "array" && ref.Value.Items != nil {
		t = schemaType(ref.Value.Items) + "[]"
	}
	if ref.Value.Format != "" {
		t += " (" + ref.Value.Format + ")"
	}
	if len(ref.Value.Enum) > 0 {
		var vals []string
		for _, v := range ref.Value.Enum {
			vals = append(vals, fmt.Sprint(v))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// remarshal converts a decoded YAML value into a typed one through JSON.
func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
