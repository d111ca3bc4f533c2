"""Customer segments, response scores and a retargeting plan priced in money, as Dagster assets.

Importing the package freezes what the process has loaded so far (Dagster and its CLI, when
``dg`` or a code server loads ``campaign_pipeline.definitions``), and the definitions freeze
what they load in turn (pandas, scikit-learn, pandera, the assets): all of it lives as long
as the process. The cyclic garbage collector then stops walking it, so each full collection
while the definitions load, and the interpreter's last ones at exit, walk only what came
since. On the reference file that is 1.4 s of the README command's 20 (benchmarks/README.md).
"""

import gc

gc.freeze()
