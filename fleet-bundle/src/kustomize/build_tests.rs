//! Whole builds of small kustomization trees, with the output `kubectl kustomize` (v5.5)
//! printed for the same trees, and the errors bad trees must give.

use std::path::Path;

use super::{build, BuildOptions, KustomizeError};

/// Writes `files` under a fresh directory and builds `target` inside it.
fn try_build_tree(
    files: &[(&str, &str)],
    target: &str,
) -> (tempfile::TempDir, Result<String, KustomizeError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
    let result = build(&dir.path().join(target), &BuildOptions::new(dir.path()));
    (dir, result)
}

fn build_tree(files: &[(&str, &str)], target: &str) -> String {
    let (_dir, result) = try_build_tree(files, target);
    result.unwrap_or_else(|e| panic!("build failed: {e}"))
}

fn build_error(files: &[(&str, &str)], target: &str) -> String {
    let (_dir, result) = try_build_tree(files, target);
    match result {
        Ok(out) => panic!("expected an error, got:\n{out}"),
        Err(e) => e.to_string(),
    }
}

mod from_kubectl {
    use super::build_tree;

    /// `kubectl kustomize --enable-helm` with Helm as the renderer printed this.
    #[test]
    fn helm_chart_with_values_file_and_inline_values() {
        let files: &[(&str, &str)] = &[
            ("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
            ("charts/web/values.yaml", "replicas: 1\nimage: nginx\nlabels:\n  tier: front\n"),
            (
                "charts/web/templates/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n  namespace: {{ .Release.Namespace }}\n  labels:\n    {{- toYaml .Values.labels | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image }}\n",
            ),
            ("prod.yaml", "image: nginx:1.25\n"),
            (
                "kustomization.yaml",
                "namePrefix: k-\nhelmCharts:\n- name: web\n  releaseName: site\n  namespace: apps\n  valuesFile: prod.yaml\n  valuesInline:\n    replicas: 3\n    labels:\n      extra: \"yes\"\n",
            ),
        ];
        assert_eq!(
            build_tree(files, "."),
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    extra: "yes"
    tier: front
  name: k-site-web
  namespace: apps
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: nginx:1.25
        name: web
"#
        );
    }

    #[test]
    fn names_and_references() {
        let files: &[(&str, &str)] = &[
            (
                "kustomization.yaml",
                r#"namespace: prod
namePrefix: p-
nameSuffix: -s
commonLabels:
  app: web
commonAnnotations:
  team: blue
resources:
- app.yaml
"#,
            ),
            (
                "app.yaml",
                r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: runner
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: runner
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  template:
    spec:
      serviceAccountName: runner
      containers:
      - name: web
        image: nginx
        envFrom:
        - configMapRef:
            name: settings
      volumes:
      - name: conf
        configMap:
          name: settings
---
apiVersion: v1
kind: Namespace
metadata:
  name: ignored
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "."),
            r#"apiVersion: v1
kind: Namespace
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: prod
---
apiVersion: v1
kind: ServiceAccount
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-runner-s
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-reader-s
  namespace: prod
rules:
- apiGroups:
  - ""
  resources:
  - configmaps
  verbs:
  - get
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-read-s
  namespace: prod
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: p-reader-s
subjects:
- kind: ServiceAccount
  name: p-runner-s
  namespace: prod
---
apiVersion: v1
data:
  mode: fast
kind: ConfigMap
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-settings-s
  namespace: prod
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-web-s
  namespace: prod
spec:
  ports:
  - port: 80
  selector:
    app: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  annotations:
    team: blue
  labels:
    app: web
  name: p-web-s
  namespace: prod
spec:
  selector:
    matchLabels:
      app: web
  serviceName: p-web-s
  template:
    metadata:
      annotations:
        team: blue
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: p-settings-s
        image: nginx
        name: web
      serviceAccountName: p-runner-s
      volumes:
      - configMap:
          name: p-settings-s
        name: conf
"#
        );
    }

    #[test]
    fn labels_images_replicas() {
        let files: &[(&str, &str)] = &[
            (
                "kustomization.yaml",
                r#"resources:
- deploy.yaml
labels:
- pairs:
    tier: front
  includeTemplates: true
- pairs:
    owner: me
images:
- name: nginx
  newName: registry.local/nginx
  newTag: "1.25"
- name: busybox
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
replicas:
- name: web
  count: 5
"#,
            ),
            (
                "deploy.yaml",
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: web
        image: nginx:1.21
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "."),
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    owner: me
    tier: front
  name: web
spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      containers:
      - image: registry.local/nginx:1.25
        name: web
      initContainers:
      - image: busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        name: init
"#
        );
    }

    #[test]
    fn generators() {
        let files: &[(&str, &str)] = &[
            (
                "base/kustomization.yaml",
                r#"configMapGenerator:
- name: conf
  literals:
  - color="blue"
  - size=10
  files:
  - app.properties
  - renamed.txt=notes.txt
  envs:
  - vars.env
secretGenerator:
- name: creds
  literals:
  - password=s3cret
  type: kubernetes.io/basic-auth
generatorOptions:
  labels:
    generated: "yes"
"#,
            ),
            (
                "base/app.properties",
                r#"a=1
b=2
"#,
            ),
            (
                "base/notes.txt",
                r#"hello
"#,
            ),
            (
                "base/vars.env",
                r#"# comment
KEY=value

OTHER=x=y
"#,
            ),
            (
                "overlay/kustomization.yaml",
                r#"resources:
- ../base
namePrefix: o-
configMapGenerator:
- name: conf
  behavior: merge
  literals:
  - size=20
- name: plain
  literals:
  - k=v
  options:
    disableNameSuffixHash: true
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "overlay"),
            r#"apiVersion: v1
data:
  KEY: value
  OTHER: x=y
  app.properties: |
    a=1
    b=2
  color: blue
  renamed.txt: |
    hello
  size: "20"
kind: ConfigMap
metadata:
  labels:
    generated: "yes"
  name: o-conf-7fgdfc64ct
---
apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  name: o-plain
---
apiVersion: v1
data:
  password: czNjcmV0
kind: Secret
metadata:
  labels:
    generated: "yes"
  name: o-creds-tt5ck8b7hb
type: kubernetes.io/basic-auth
"#
        );
    }

    #[test]
    fn patches() {
        let files: &[(&str, &str)] = &[
            (
                "kustomization.yaml",
                r#"resources:
- app.yaml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            env:
            - name: OLD
              $patch: delete
            - name: NEW
              value: "1"
          - name: sidecar
            image: envoy
- target:
    kind: Deployment
    labelSelector: tier=front
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args
      value: ["--fast"]
    - op: remove
      path: /spec/paused
- target:
    kind: Service
    name: "w.*"
  patch: |-
    apiVersion: v1
    kind: Service
    metadata:
      name: anything
    spec:
      type: NodePort
patchesStrategicMerge:
- |-
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: legacy
  $patch: delete
"#,
            ),
            (
                "app.yaml",
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: front
spec:
  paused: true
  template:
    spec:
      containers:
      - name: web
        image: nginx
        env:
        - name: OLD
          value: "0"
        - name: KEEP
          value: "k"
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: legacy
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "."),
            r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: 8080
  type: NodePort
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    tier: front
  name: web
spec:
  template:
    spec:
      containers:
      - args:
        - --fast
        env:
        - name: NEW
          value: "1"
        - name: KEEP
          value: k
        image: nginx
        name: web
      - image: envoy
        name: sidecar
"#
        );
    }

    #[test]
    fn replacements_and_vars() {
        let files: &[(&str, &str)] = &[
            (
                "kustomization.yaml",
                r#"resources:
- app.yaml
namePrefix: x-
replacements:
- source:
    kind: Service
    name: db
    fieldPath: metadata.name
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=app].env.[name=DB_HOST].value
    - metadata.annotations.db-url
    options:
      delimiter: ":"
      index: 0
      create: true
vars:
- name: SVC
  objref:
    kind: Service
    name: db
    apiVersion: v1
"#,
            ),
            (
                "app.yaml",
                r#"apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  ports:
  - port: 5432
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
      - name: app
        image: app
        args: ["--db=$(SVC)"]
        env:
        - name: DB_HOST
          value: placeholder:5432
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "."),
            r#"apiVersion: v1
kind: Service
metadata:
  name: x-db
spec:
  ports:
  - port: 5432
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    db-url: x-db
  name: x-app
spec:
  template:
    spec:
      containers:
      - args:
        - --db=x-db
        env:
        - name: DB_HOST
          value: x-db:5432
        image: app
        name: app
"#
        );
    }

    #[test]
    fn components_and_fifo() {
        let files: &[(&str, &str)] = &[
            (
                "app/kustomization.yaml",
                r#"resources:
- ../base
components:
- ../feature
sortOptions:
  order: fifo
"#,
            ),
            (
                "base/kustomization.yaml",
                r#"resources:
- svc.yaml
- ns.yaml
"#,
            ),
            (
                "base/svc.yaml",
                r#"apiVersion: v1
kind: Service
metadata:
  name: web
"#,
            ),
            (
                "base/ns.yaml",
                r#"apiVersion: v1
kind: Namespace
metadata:
  name: web
"#,
            ),
            (
                "feature/kustomization.yaml",
                r#"apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- extra.yaml
commonLabels:
  feature: "on"
"#,
            ),
            (
                "feature/extra.yaml",
                r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "app"),
            r#"apiVersion: v1
kind: Service
metadata:
  labels:
    feature: "on"
  name: web
spec:
  selector:
    feature: "on"
---
apiVersion: v1
kind: Namespace
metadata:
  labels:
    feature: "on"
  name: web
---
apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    feature: "on"
  name: extra
"#
        );
    }

    /// Generators in an overlay merge into (and replace) the base's generated objects
    /// although the base renamed and moved them; custom legacy order.
    #[test]
    fn generator_behaviors_across_renames() {
        let files: &[(&str, &str)] = &[
            (
                "b/kustomization.yaml",
                r#"namePrefix: base-
namespace: ns1
configMapGenerator:
- name: cm
  literals: [a=1, b=2]
secretGenerator:
- name: sec
  namespace: ns1
  literals: [x=1]
resources: [d.yaml]
"#,
            ),
            (
                "b/d.yaml",
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: c
        image: i
        envFrom:
        - configMapRef:
            name: cm
        - secretRef:
            name: sec
"#,
            ),
            (
                "o/kustomization.yaml",
                r#"resources: [../b]
namePrefix: top-
configMapGenerator:
- name: cm
  namespace: ns1
  behavior: merge
  literals: [b=3, c=4]
- name: other
  namespace: ns2
  behavior: create
  literals: [q=1]
  options:
    labels:
      l: v
secretGenerator:
- name: sec
  namespace: ns1
  behavior: replace
  literals: [y=2]
sortOptions:
  order: legacy
  legacySortOptions:
    orderFirst: [Deployment]
    orderLast: [ConfigMap]
"#,
            ),
        ];
        assert_eq!(
            build_tree(files, "o"),
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: top-base-d
  namespace: ns1
spec:
  template:
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: top-base-cm-fbcmkbc66h
        - secretRef:
            name: top-base-sec-thbb5hb82m
        image: i
        name: c
---
apiVersion: v1
data:
  "y": Mg==
kind: Secret
metadata:
  name: top-base-sec-thbb5hb82m
  namespace: ns1
type: Opaque
---
apiVersion: v1
data:
  a: "1"
  b: "3"
  c: "4"
kind: ConfigMap
metadata:
  name: top-base-cm-fbcmkbc66h
  namespace: ns1
---
apiVersion: v1
data:
  q: "1"
kind: ConfigMap
metadata:
  labels:
    l: v
  name: top-other-h2cbk2bbtf
  namespace: ns2
"#
        );
    }
}

mod bad_input {
    use super::*;

    #[test]
    fn cycles_are_detected() {
        let err = build_error(
            &[
                ("a/kustomization.yaml", "resources:\n- ../b\n"),
                ("b/kustomization.yaml", "resources:\n- ../a\n"),
            ],
            "a",
        );
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn files_outside_the_root_are_refused() {
        let outer = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            outer.path().join("secret.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
        )
        .expect("write");
        let root = outer.path().join("bundle");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::write(
            root.join("kustomization.yaml"),
            "resources:\n- ../secret.yaml\n",
        )
        .expect("write");
        let err = build(&root, &BuildOptions::new(&root))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("outside the root"), "{err}");
        assert!(err.contains("kustomization.yaml"), "{err}");
    }

    #[test]
    fn remote_resources_are_refused() {
        let err = build_error(
            &[(
                "kustomization.yaml",
                "resources:\n- https://github.com/org/repo//deploy?ref=v1\n",
            )],
            ".",
        );
        assert!(err.contains("remote resource"), "{err}");
        assert!(err.contains("self-contained"), "{err}");
    }

    #[test]
    fn missing_files_name_the_entry() {
        let err = build_error(
            &[("kustomization.yaml", "resources:\n- nothere.yaml\n")],
            ".",
        );
        assert!(err.contains("resources entry \"nothere.yaml\""), "{err}");
    }

    #[test]
    fn malformed_kustomizations_name_the_file_and_field() {
        let err = build_error(
            &[("kustomization.yaml", "resources:\n- a.yaml\nnamePrefx: x\n")],
            ".",
        );
        assert!(
            err.contains("kustomization.yaml: invalid kustomization"),
            "{err}"
        );
        assert!(err.contains("namePrefx"), "{err}");
        let err = build_error(
            &[(
                "kustomization.yaml",
                "replicas:\n- name: a\n  count: many\n",
            )],
            ".",
        );
        assert!(err.contains("replicas[0].count"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        // A key Go's matching folds (`Count`) still gets the field's path.
        let err = build_error(
            &[(
                "kustomization.yaml",
                "replicas:\n- name: a\n  Count: many\n",
            )],
            ".",
        );
        assert!(err.contains("replicas[0].count: invalid type"), "{err}");
    }

    #[test]
    fn a_directory_without_kustomization_is_an_error() {
        let err = build_error(&[("empty/README", "x")], "empty");
        assert!(err.contains("no kustomization.yaml"), "{err}");
    }

    #[test]
    fn broken_yaml_names_the_file_and_line() {
        let err = build_error(
            &[
                ("kustomization.yaml", "resources:\n- a.yaml\n"),
                ("a.yaml", "kind: ConfigMap\nmetadata:\n  name: [x\n"),
            ],
            ".",
        );
        assert!(err.contains("a.yaml") && err.contains("line"), "{err}");
    }

    #[test]
    fn components_cannot_be_resources() {
        let err = build_error(
            &[
                ("kustomization.yaml", "resources:\n- comp\n"),
                (
                    "comp/kustomization.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
                ),
            ],
            ".",
        );
        assert!(err.contains("Component"), "{err}");
    }

    #[test]
    fn patches_without_a_match_are_errors() {
        let err = build_error(
            &[
                ("kustomization.yaml", "resources:\n- a.yaml\npatches:\n- patch: |-\n    kind: ConfigMap\n    apiVersion: v1\n    metadata:\n      name: other\n"),
                ("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"),
            ],
            ".",
        );
        assert!(
            err.contains("no resource matches strategic merge patch"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_resources_are_conflicts() {
        let err = build_error(
            &[
                ("kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n"),
                (
                    "a.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
                ),
                (
                    "b.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
                ),
            ],
            ".",
        );
        assert!(err.contains("already registered id"), "{err}");
    }

    #[test]
    fn unsupported_fields_fail_instead_of_being_ignored() {
        for (field, text) in [
            ("generators", "generators:\n- gen.yaml\n"),
            ("validators", "validators:\n- v.yaml\n"),
            ("buildMetadata", "buildMetadata: [originAnnotations]\n"),
        ] {
            let err = build_error(&[("kustomization.yaml", text)], ".");
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn helm_charts_must_be_vendored() {
        let err = build_error(
            &[(
                "kustomization.yaml",
                "helmCharts:\n- name: web\n  repo: https://charts.example.com\n",
            )],
            ".",
        );
        assert!(
            err.contains("helmCharts") && err.contains("vendor the chart"),
            "{err}"
        );
    }

    #[test]
    fn targets_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("root")).expect("mkdir");
        std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").expect("write");
        let err =
            build(dir.path(), &BuildOptions::new(dir.path().join("root"))).expect_err("must fail");
        assert!(matches!(err, KustomizeError::OutsideRoot { .. }), "{err}");
        let _ = Path::new("");
    }
}
