/**
 * ConfigMap and Secret (core `v1`) and the pod fields that consume them:
 * `env[].valueFrom.configMapKeyRef|secretKeyRef`, `envFrom`, and the
 * `configMap` / `secret` volume sources. Kubernetes field names.
 */
import type { KubeList, KubeObject } from './meta.js';

/** Configuration data a pod reads as env or files. */
export interface ConfigMap extends KubeObject {
  /** UTF-8 values by key (`[-._a-zA-Z0-9]+`). */
  data?: Record<string, string>;
  /** Binary values by key, base64 in JSON; keys must not repeat those of `data`. */
  binaryData?: Record<string, string>;
  /** Once true, data and binaryData can no longer change (and immutable cannot be unset). */
  immutable?: boolean;
}

/** The secret types with rules Kubernetes enforces. */
export const SECRET_TYPES = {
  opaque: 'Opaque',
  serviceAccountToken: 'kubernetes.io/service-account-token',
  dockerConfigJson: 'kubernetes.io/dockerconfigjson',
  dockerCfg: 'kubernetes.io/dockercfg',
  basicAuth: 'kubernetes.io/basic-auth',
  sshAuth: 'kubernetes.io/ssh-auth',
  tls: 'kubernetes.io/tls',
} as const;

/** Sensitive data a pod reads as env or files; encrypted at rest by the store. */
export interface Secret extends KubeObject {
  /** `Opaque` by default; a typed secret must carry its type's keys. */
  type?: string;
  /** Values by key, base64 in JSON. */
  data?: Record<string, string>;
  /** Write-only convenience: plain strings folded into `data` on write, never stored or returned. */
  stringData?: Record<string, string>;
  /** Once true, data can no longer change (and immutable cannot be unset). */
  immutable?: boolean;
}

/** A list of ConfigMaps. */
export type ConfigMapList = KubeList<ConfigMap>;
/** A list of Secrets. */
export type SecretList = KubeList<Secret>;

/** One key of a ConfigMap or Secret projected to a file of a volume. */
export interface KeyToPath {
  key: string;
  /** Relative path of the file inside the volume; no `..` element. */
  path: string;
  /** File mode bits (0–0777); defaultMode when absent. */
  mode?: number;
}

/** A volume with the keys of a ConfigMap as files. */
export interface ConfigMapVolumeSource {
  name?: string;
  items?: KeyToPath[];
  /** 0644 (420) by default. */
  defaultMode?: number;
  optional?: boolean;
}

/** A volume with the keys of a Secret as files. */
export interface SecretVolumeSource {
  secretName?: string;
  items?: KeyToPath[];
  /** 0644 (420) by default. */
  defaultMode?: number;
  optional?: boolean;
}

/** One key of a ConfigMap or Secret as the value of an env var. */
export interface KeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

/** A ConfigMap or Secret referenced whole by `envFrom`. */
export interface EnvFromReference {
  name?: string;
  optional?: boolean;
}

/** Every key of a ConfigMap or Secret as env vars, optionally prefixed. */
export interface EnvFromSource {
  prefix?: string;
  configMapRef?: EnvFromReference;
  secretRef?: EnvFromReference;
}

/** The largest ConfigMap or Secret payload Kubernetes accepts (data plus binaryData, decoded): 1 MiB. */
export const MAX_CONFIG_DATA_BYTES = 1024 * 1024;
