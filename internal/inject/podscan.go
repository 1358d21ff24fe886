package inject

import (
	"slices"

	"github.com/seal-dev/seal/internal/jsonscan"
)

// ReadPod decodes a Pod's JSON value at d into p with the API server's semantics
// (sigs.k8s.io/json, case-sensitive): null leaves a struct or string as it was and clears a
// pointer, map or list; a repeated name decodes into the same value. Only PodJSON's fields are
// decoded; the rest is validated and skipped.
func ReadPod(d *jsonscan.Decoder, p *PodJSON) error {
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "metadata":
			return readMeta(d, p)
		case "spec":
			return readSpec(d, p)
		}
		return d.Skip()
	})
}

func readMeta(d *jsonscan.Decoder, p *PodJSON) error {
	m := &p.Metadata
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "name":
			return jsonscan.StringInto(d, &m.Name)
		case "generateName":
			return jsonscan.StringInto(d, &m.GenerateName)
		case "namespace":
			return jsonscan.StringInto(d, &m.Namespace)
		case "uid":
			return jsonscan.StringInto(d, &m.UID)
		case "labels":
			return strMap(d, &m.Labels)
		case "annotations":
			return strMap(d, &m.Annotations)
		case "ownerReferences":
			return list(d, &m.OwnerReferences, readOwner)
		}
		return d.Skip()
	})
}

func readOwner(d *jsonscan.Decoder, o *ownerJSON) error {
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "apiVersion":
			return jsonscan.StringInto(d, &o.APIVersion)
		case "kind":
			return jsonscan.StringInto(d, &o.Kind)
		case "name":
			return jsonscan.StringInto(d, &o.Name)
		case "uid":
			return jsonscan.StringInto(d, &o.UID)
		case "controller":
			return BoolPtr(d, &o.Controller)
		}
		return d.Skip()
	})
}

func readSpec(d *jsonscan.Decoder, p *PodJSON) error {
	s := &p.Spec
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "initContainers":
			return list(d, &s.InitContainers, readContainer)
		case "containers":
			return list(d, &s.Containers, readContainer)
		case "volumes":
			return list(d, &s.Volumes, func(d *jsonscan.Decoder, v *volumeJSON) error {
				return d.Fields(func(k []byte) error {
					if string(k) == "name" {
						return jsonscan.StringInto(d, &v.Name)
					}
					return d.Skip()
				})
			})
		case "hostNetwork":
			if null, err := d.Null(); null || err != nil {
				return err
			}
			v, err := d.Bool()
			s.HostNetwork = v
			return err
		case "serviceAccountName":
			return jsonscan.StringInto(d, &s.ServiceAccountName)
		case "securityContext":
			if null, err := d.Null(); null || err != nil {
				s.SecurityContext = nil
				return err
			}
			if s.SecurityContext == nil {
				s.SecurityContext = new(podSecurityJSON)
			}
			sc := s.SecurityContext
			return d.Fields(func(k []byte) error {
				if string(k) != "fsGroup" {
					return d.Skip()
				}
				if null, err := d.Null(); null || err != nil {
					sc.FSGroup = nil
					return err
				}
				v, err := d.Int64()
				sc.FSGroup = &v
				return err
			})
		}
		return d.Skip()
	})
}

func readContainer(d *jsonscan.Decoder, c *containerJSON) error {
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "name":
			return jsonscan.StringInto(d, &c.Name)
		case "image":
			return jsonscan.StringInto(d, &c.Image)
		case "imagePullPolicy":
			return jsonscan.StringInto(d, &c.ImagePullPolicy)
		case "env":
			return readNonEmpty(d, &c.Env)
		case "volumeMounts":
			return list(d, &c.VolumeMounts, func(d *jsonscan.Decoder, m *mountJSONField) error {
				return d.Fields(func(k []byte) error {
					switch string(k) {
					case "name":
						return jsonscan.StringInto(d, &m.Name)
					case "mountPath":
						return jsonscan.StringInto(d, &m.MountPath)
					}
					return d.Skip()
				})
			})
		}
		return d.Skip()
	})
}

// readNonEmpty reads whether an array has an element, skipping the elements.
func readNonEmpty(d *jsonscan.Decoder, l *nonEmptyList) error {
	*l = false
	if null, err := d.Null(); null || err != nil {
		return err
	}
	v, err := d.SkipArray()
	*l = nonEmptyList(v)
	return err
}

// BoolPtr reads an optional boolean: null clears it.
func BoolPtr(d *jsonscan.Decoder, b **bool) error {
	if null, err := d.Null(); null || err != nil {
		*b = nil
		return err
	}
	v, err := d.Bool()
	if err == nil {
		if *b == nil {
			*b = new(bool)
		}
		**b = v
	}
	return err
}

// strMap reads an object of strings into m (made if nil); null clears m, a null value is "".
func strMap(d *jsonscan.Decoder, m *map[string]string) error {
	if null, err := d.Null(); null || err != nil {
		*m = nil
		return err
	}
	if err := d.Object(); err != nil {
		return err
	}
	if *m == nil {
		*m = map[string]string{}
	}
	for n := 0; ; n++ {
		k, ok, err := d.Key(n)
		if err != nil || !ok {
			return err
		}
		key := string(k)
		var v string
		if err := jsonscan.StringInto(d, &v); err != nil {
			return err
		}
		(*m)[key] = v
	}
}

// list reads an array into s as encoding/json does: element i decodes into s[i] when it
// exists, the list is cut to the array's length, and [] is an empty list; null clears it.
func list[E any](d *jsonscan.Decoder, s *[]E, elem func(*jsonscan.Decoder, *E) error) error {
	if null, err := d.Null(); null || err != nil {
		*s = nil
		return err
	}
	if err := d.Array(); err != nil {
		return err
	}
	v := *s
	i := 0
	for ; ; i++ {
		ok, err := d.Elem(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if i >= cap(v) {
			v = slices.Grow(v, 1)
		}
		if i >= len(v) {
			v = v[:i+1]
		}
		if err := elem(d, &v[i]); err != nil {
			return err
		}
	}
	if i == 0 {
		v = []E{}
	}
	*s = v[:i]
	return nil
}
