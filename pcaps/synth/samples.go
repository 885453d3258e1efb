package synth

// SampleDir is where the committed samples live, relative to this
// package's directory.
const SampleDir = ".."

// Samples are the settings of the samples committed in pcaps/: one per
// scenario, small (4 edges, their hand-made route tables; the scale
// sample 6 edges and 120 route paths); none of the scenarios made for
// long captures (churn). `go generate ./pcaps/synth`
// (`ompscope synth --samples pcaps`) writes them again.
func Samples() []Options {
	var out []Options
	for _, sc := range scenarioList {
		if sc.noSample {
			continue
		}
		o := Options{Scenario: sc.Name, Seed: 1, Edges: 4}
		if sc.Name == "scale" {
			o.Edges, o.Routes = 6, 120
		}
		out = append(out, o)
	}
	return out
}
