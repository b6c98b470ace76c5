// One cluster of processes on a two-core machine: its tests run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
