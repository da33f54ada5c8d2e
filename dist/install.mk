# dist/install.mk - `make install` and `make uninstall` (included by the
# Makefile).  PREFIX (default /usr/local) and DESTDIR as usual:
#
#   make install                         into /usr/local
#   make install PREFIX=/usr             /usr, configuration in /etc
#   make install DESTDIR=/tmp/pkg        staged (a package's root)
#
# What goes where (docs/deploy.md):
#   LIBEXECDIR/{agent,engine,exporter,qgen}   the programs (the agent and the
#                         exporter find the engine beside them)
#   BINDIR_I/idunno-{agent,engine,exporter,qgen}   links to them
#   MANDIR/idunno-*.1     man pages made from each program's --help
#   UNITDIR/idunno-{agent,exporter}.service   systemd units; SYSUSERSDIR/idunno.conf
#   SYSCONFDIR/idunno/{agent.conf,agent.env,exporter.env}   only when absent
#   DOCDIR                the documents; examples/ the configuration as shipped

PREFIX      ?= /usr/local
BINDIR_I    ?= $(PREFIX)/bin
LIBEXECDIR  ?= $(PREFIX)/libexec/idunno
MANDIR      ?= $(PREFIX)/share/man/man1
DOCDIR      ?= $(PREFIX)/share/doc/idunno
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)

INSTALL_PROGS := $(filter $(addprefix $(BINDIR)/,agent engine exporter qgen),$(PROGRAMS))
INSTALL_NAMES := $(notdir $(INSTALL_PROGS))
MAN_PAGES     := $(INSTALL_NAMES:%=$(OUT)/man/idunno-%.1)
UNITS         := $(OUT)/dist/idunno-agent.service $(if $(BPF_OK),$(OUT)/dist/idunno-exporter.service)
ETC_FILES     := agent.conf agent.env $(if $(BPF_OK),exporter.env)
DOC_FILES     := README.md $(wildcard docs/*.md)

# The man pages are built with the programs.
all: $(MAN_PAGES) $(UNITS)

$(OUT)/man/idunno-%.1: $(BINDIR)/% dist/gen-man.sh
	$(call say,MAN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh dist/gen-man.sh $< idunno-$* > $@

# The units name the installed paths: made again when those change (the
# stamp is rewritten only then).
$(OUT)/dist/paths: FORCE_PATHS
	@mkdir -p $(dir $@)
	@echo '$(LIBEXECDIR) $(SYSCONFDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR) $(SYSCONFDIR)' > $@

$(OUT)/dist/%.service: dist/%.service.in $(OUT)/dist/paths
	$(call say,GEN,$@)
	$(Q)sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

.PHONY: install uninstall FORCE_PATHS
FORCE_PATHS:

install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR_I) $(DESTDIR)$(MANDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(SYSCONFDIR)/idunno
	install -m 0755 $(INSTALL_PROGS) $(DESTDIR)$(LIBEXECDIR)/
	for p in $(INSTALL_NAMES); do \
		ln -sfn "$$(realpath -m --relative-to=$(BINDIR_I) $(LIBEXECDIR))/$$p" \
			$(DESTDIR)$(BINDIR_I)/idunno-$$p || exit 1; done
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/
	install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -m 0644 dist/idunno.sysusers $(DESTDIR)$(SYSUSERSDIR)/idunno.conf
	install -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(addprefix dist/,$(ETC_FILES)) $(DESTDIR)$(DOCDIR)/examples/
	@# an operator's configuration is never overwritten
	for f in $(ETC_FILES); do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/idunno/$$f ] || \
		install -m 0644 dist/$$f $(DESTDIR)$(SYSCONFDIR)/idunno/$$f || exit 1; done

# Removes what install put there; the configuration only where it is still
# the one shipped (an edited file and the cluster key stay, and are named).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBEXECDIR)/,agent engine exporter qgen) \
		$(addprefix $(DESTDIR)$(BINDIR_I)/idunno-,agent engine exporter qgen) \
		$(addprefix $(DESTDIR)$(MANDIR)/idunno-,agent.1 engine.1 exporter.1 qgen.1) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,idunno-agent.service idunno-exporter.service) \
		$(DESTDIR)$(SYSUSERSDIR)/idunno.conf
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	for f in agent.conf agent.env exporter.env; do \
		t=$(DESTDIR)$(SYSCONFDIR)/idunno/$$f; \
		if cmp -s dist/$$f $$t; then rm -f $$t; \
		elif [ -e $$t ]; then echo "kept $$t (changed since it was installed)"; fi; done
	@[ ! -e $(DESTDIR)$(SYSCONFDIR)/idunno/cluster.key ] || \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/idunno/cluster.key"
	-rmdir $(DESTDIR)$(SYSCONFDIR)/idunno 2>/dev/null
