package fakegraph

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

var rolePropNames = []string{"deletedDateTime", "description", "displayName", "roleTemplateId"}

// roleFilter is the one $filter shape served on directoryRoles: prop eq 'value'.
var roleFilter = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// roleSelect parses a directoryRoles $select; nil means every property.
func roleSelect(raw string) ([]string, error) {
	if strings.TrimSpace(raw) == "" {
		return rolePropNames, nil
	}
	var props []string
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		switch i := lookupProp(rolePropNames, name); {
		case name == "" || strings.EqualFold(name, "id"):
		case i < 0:
			return nil, errUnknownProperty{name: name, typ: "directoryRole"}
		default:
			props = append(props, rolePropNames[i])
		}
	}
	return props, nil
}

func roleJSON(r *roleRec, props []string) map[string]any {
	all := map[string]any{"deletedDateTime": nil, "description": r.description, "displayName": r.name, "roleTemplateId": r.templateID}
	m := map[string]any{"id": r.id}
	for _, p := range props {
		m[p] = all[p]
	}
	return m
}

// serveRoles answers directoryRoles: the activated roles, with $select and a
// $filter of the form displayName/roleTemplateId/id eq 'value'.
func (s *Server) serveRoles(c *call) {
	q := c.r.URL.Query()
	props, err := roleSelect(q.Get("$select"))
	if err != nil {
		c.badRequest(err.Error())
		return
	}
	var field, want string
	if f := queryValue(q, "filter"); f != "" {
		m := roleFilter.FindStringSubmatch(f)
		if m == nil || lookupProp([]string{"id", "displayName", "roleTemplateId"}, m[1]) < 0 {
			c.graphError(http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Unsupported or invalid query filter clause specified for resource 'DirectoryRole': %s", f))
			return
		}
		field, want = strings.ToLower(m[1]), strings.ReplaceAll(m[2], "''", "'")
	}
	value := []map[string]any{}
	s.readDir(func(d *directory) {
		for _, r := range d.roles {
			got := map[string]string{"id": r.id, "displayname": r.name, "roletemplateid": r.templateID}[field]
			if field == "" || strings.EqualFold(got, want) {
				value = append(value, roleJSON(r, props))
			}
		}
	})
	ctx := s.url + "/v1.0/$metadata#directoryRoles"
	if sel := strings.TrimSpace(q.Get("$select")); sel != "" {
		ctx += "(" + sel + ")"
	}
	c.writeJSONAs(odataJSON, map[string]any{"@odata.context": ctx, "value": value})
}

// serveRole answers directoryRoles/{id} and directoryRoles(roleTemplateId='...').
func (s *Server) serveRole(c *call, key string) {
	props, err := roleSelect(c.r.URL.Query().Get("$select"))
	if err != nil {
		c.badRequest(err.Error())
		return
	}
	var body map[string]any
	s.readDir(func(d *directory) {
		if r := d.role(key); r != nil {
			body = roleJSON(r, props)
		}
	})
	if body == nil {
		c.notFound(key)
		return
	}
	body["@odata.context"] = s.url + "/v1.0/$metadata#directoryRoles/$entity"
	c.writeJSONAs(odataJSON, body)
}
