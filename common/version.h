/*
 * version.h - the release every program reports (`agent --version`, the
 * `idunno_build_info` metric of the agent and the exporter).  The commit
 * built comes from the generated idunno_commit.h (the Makefile writes it
 * from `git rev-parse`; "unknown" outside a git checkout).
 */
#ifndef IDUNNO_VERSION_H
#define IDUNNO_VERSION_H

#ifndef IDUNNO_VERSION
#define IDUNNO_VERSION "0.1"
#endif

#endif
