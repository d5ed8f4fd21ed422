"""Move an MLflow team to mltrail: ``mltrail import`` (docs/migration.md).

Readers (:mod:`.mlflow_db` for an MLflow database, :mod:`.mlruns` for an
``mlruns`` folder) yield the records of :mod:`.source`; :mod:`.writer` writes them
into a mltrail database keeping ids; :mod:`.state` remembers what came, so a
rerun is incremental; :mod:`.importer` runs it all and counts every kind in the
source and the destination.
"""
