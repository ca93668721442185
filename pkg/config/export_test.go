package config

// TrialOf exposes Experiment.trial to the external tests.
func TrialOf(e Experiment) Trial { return e.trial() }
