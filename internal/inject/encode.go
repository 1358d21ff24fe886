package inject

import (
	"encoding/json"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Fixed JSON of what every added container carries.
var (
	restrictedJSON = mustJSON(restricted())
	rwMountJSON    = []byte(`[{"name":"` + VolumeName + `","mountPath":"` + MountPath + `"}]`)
)

// resourcesJSON caches the JSON of cfg.Resources: WithDefaults fills it.
func (c *Config) resourcesJSON() []byte {
	if c.resources != nil {
		return c.resources
	}
	return mustJSON(&c.Resources)
}

// appendContainer appends the JSON of an added container: what json.Marshal(c) writes (keys
// aside) for every shape initContainers builds (TestAppendContainerIsContainerJSON); a field
// initContainers starts setting must be written here too.
func appendContainer(b []byte, c *corev1.Container, cfg *Config) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, c.Name)
	if c.Image != "" { // omitempty: with seal.dev/egg: image:..., an app container without image
		b = append(b, `,"image":`...)
		b = appendString(b, c.Image)
	}
	b = append(b, `,"command":`...)
	b = appendStrings(b, c.Command)
	if len(c.Args) > 0 {
		b = append(b, `,"args":`...)
		b = appendStrings(b, c.Args)
	}
	if len(c.Env) > 0 {
		e := c.Env[0].ValueFrom.SecretKeyRef
		b = append(b, `,"env":[{"name":`...)
		b = appendString(b, c.Env[0].Name)
		b = append(b, `,"valueFrom":{"secretKeyRef":{"name":`...)
		b = appendString(b, e.Name)
		b = append(b, `,"key":`...)
		b = appendString(b, e.Key)
		b = append(b, `}}}]`...)
	}
	b = append(b, `,"resources":`...)
	b = append(b, cfg.resourcesJSON()...)
	b = append(b, `,"volumeMounts":`...)
	if len(c.VolumeMounts) > 1 {
		b = append(b, mustJSON(c.VolumeMounts)...) // the TPM device too (attest.go)
	} else {
		b = append(b, rwMountJSON...)
	}
	if c.ImagePullPolicy != "" {
		b = append(b, `,"imagePullPolicy":`...)
		b = appendString(b, string(c.ImagePullPolicy))
	}
	if c.StartupProbe != nil {
		b = append(b, `,"startupProbe":`...)
		b = appendProbe(b, c.StartupProbe)
		b = append(b, `,"readinessProbe":`...)
		b = appendProbe(b, c.ReadinessProbe)
	}
	if c.RestartPolicy != nil {
		b = append(b, `,"restartPolicy":`...)
		b = appendString(b, string(*c.RestartPolicy))
	}
	b = append(b, `,"securityContext":`...)
	b = append(b, restrictedJSON...)
	return append(b, '}')
}

// appendProbe appends the JSON of an exec probe made by startupProbe or readinessProbe.
func appendProbe(b []byte, p *corev1.Probe) []byte {
	b = append(b, `{"exec":{"command":`...)
	b = appendStrings(b, p.Exec.Command)
	b = append(b, `},"timeoutSeconds":`...)
	b = strconv.AppendInt(b, int64(p.TimeoutSeconds), 10)
	if p.PeriodSeconds != 0 {
		b = append(b, `,"periodSeconds":`...)
		b = strconv.AppendInt(b, int64(p.PeriodSeconds), 10)
	}
	if p.FailureThreshold != 0 {
		b = append(b, `,"failureThreshold":`...)
		b = strconv.AppendInt(b, int64(p.FailureThreshold), 10)
	}
	return append(b, '}')
}

// appendStrings appends ss as encoding/json does: null when nil.
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendStatus appends the JSON of st: what json.Marshal(st) writes, byte for byte
// (TestAppendStatusIsStatusJSON).
func appendStatus(b []byte, st *Status) []byte {
	b = append(b, `{"version":`...)
	b = appendString(b, st.Version)
	b = append(b, `,"workload":`...)
	b = appendString(b, st.Workload)
	b = append(b, `,"peer":`...)
	b = appendString(b, st.Peer)
	b = append(b, `,"egg":`...)
	b = appendString(b, st.Egg)
	if st.Rotate {
		b = append(b, `,"rotate":true`...)
	}
	b = append(b, `,"initContainers":`...)
	b = appendStrings(b, st.InitContainers)
	b = append(b, `,"volumes":`...)
	b = appendStrings(b, st.Volumes)
	b = append(b, `,"mounted":`...)
	b = appendStrings(b, st.Mounted)
	return append(b, '}')
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("inject: " + err.Error()) // only fixed, marshalable types reach here
	}
	return b
}
