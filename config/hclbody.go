package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// The raw structs are decoded with hcl/v2's schema API, driven by struct
// tags: `hcl:"name,attr"` on a *hcl.Attribute field (always optional; the
// attribute keeps its range), `hcl:"name,block"` on a pointer to a raw struct
// (at most one such block; its DefRange hcl.Range field, tagged `hcl:"-"`,
// gets the block's header position) or on []rawHead (labelled blocks); an embedded
// struct without a tag adds its fields to the block's. gohcl would do
// the same but pulls in hclwrite and with it go-cmp, which go.mod does not
// carry.

var (
	attrPtrType = reflect.TypeFor[*hcl.Attribute]()
	headsType   = reflect.TypeFor[[]rawHead]()
	rangeType   = reflect.TypeFor[hcl.Range]()
)

// decodeBody fills the raw struct that out points to from body, reporting
// unknown arguments and blocks, and duplicate blocks.
func decodeBody(body hcl.Body, out any) hcl.Diagnostics {
	v := reflect.ValueOf(out).Elem()
	content, diags := body.Content(schemaOf(v.Type()))
	if content == nil {
		return diags
	}
	return append(diags, fill(v, content)...)
}

// fill sets the fields of the raw struct v from content.
func fill(v reflect.Value, content *hcl.BodyContent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range v.NumField() {
		if embedded(v.Type().Field(i)) {
			diags = append(diags, fill(v.Field(i), content)...)
			continue
		}
		name, kind := fieldTag(v.Type().Field(i))
		switch {
		case name == "-":
		case kind == "attr":
			if a, ok := content.Attributes[name]; ok {
				v.Field(i).Set(reflect.ValueOf(a))
			}
		case v.Field(i).Type() == headsType:
			v.Field(i).Set(reflect.ValueOf(heads(content.Blocks.OfType(name))))
		default:
			diags = append(diags, decodeSingle(content.Blocks.OfType(name), v.Field(i))...)
		}
	}
	return diags
}

// decodeSingle decodes an optional, unlabelled, non-repeatable block.
func decodeSingle(blocks hcl.Blocks, field reflect.Value) hcl.Diagnostics {
	if len(blocks) == 0 {
		return nil
	}
	if len(blocks) > 1 {
		first := blocks[0].DefRange
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", blocks[1].Type),
			Detail: fmt.Sprintf("only one %s block is allowed; the first is at %s:%d:%d",
				blocks[1].Type, first.Filename, first.Start.Line, first.Start.Column),
			Subject: blocks[1].DefRange.Ptr(),
		}}
	}
	ptr := reflect.New(field.Type().Elem())
	diags := decodeBody(blocks[0].Body, ptr.Interface())
	if f := ptr.Elem().FieldByName("DefRange"); f.IsValid() && f.Type() == rangeType {
		f.Set(reflect.ValueOf(blocks[0].DefRange))
	}
	field.Set(ptr)
	return diags
}

func heads(blocks hcl.Blocks) []rawHead {
	out := make([]rawHead, len(blocks))
	for i, b := range blocks {
		out[i] = rawHead{Name: b.Labels[0], NameRange: b.LabelRanges[0], DefRange: b.DefRange, Body: b.Body}
	}
	return out
}

// embedded reports whether f is an embedded struct whose fields belong to
// the block.
func embedded(f reflect.StructField) bool {
	return f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("hcl") == ""
}

// schemaOf derives the body schema of a raw struct type from its tags.
func schemaOf(t reflect.Type) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for i := range t.NumField() {
		if embedded(t.Field(i)) {
			sub := schemaOf(t.Field(i).Type)
			s.Attributes = append(s.Attributes, sub.Attributes...)
			s.Blocks = append(s.Blocks, sub.Blocks...)
			continue
		}
		name, kind := fieldTag(t.Field(i))
		switch {
		case name == "-":
		case kind == "attr":
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: name})
		case t.Field(i).Type == headsType:
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: name, LabelNames: []string{"name"}})
		default:
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: name})
		}
	}
	return s
}

func fieldTag(f reflect.StructField) (name, kind string) {
	name, kind, _ = strings.Cut(f.Tag.Get("hcl"), ",")
	if kind == "attr" && f.Type != attrPtrType {
		panic("config: attr field " + f.Name + " must be *hcl.Attribute")
	}
	return name, kind
}

// decodeValue evaluates a constant expression (no variables, no functions)
// and converts it into the Go value out points to.
func decodeValue(expr hcl.Expression, out any) hcl.Diagnostics {
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	ty, err := gocty.ImpliedType(out)
	if err == nil {
		val, err = convert.Convert(val, ty)
	}
	if err == nil {
		err = gocty.FromCtyValue(val, out)
	}
	if err != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsuitable value type",
			Detail:   err.Error(),
			Subject:  expr.Range().Ptr(),
		})
	}
	return diags
}
