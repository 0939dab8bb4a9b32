/**
 * Which Ingresses this controller serves. An Ingress is ours when its
 * `spec.ingressClassName` is our class name (`--ingress-class`) or names an
 * IngressClass whose `spec.controller` is our controller name; an Ingress
 * without a class is ours when the legacy `kubernetes.io/ingress.class`
 * annotation says our class, or when an IngressClass of ours carries
 * `ingressclass.kubernetes.io/is-default-class: "true"` (the newest such
 * class wins when several are default, as Kubernetes' admission does).
 */
import { isDefaultIngressClass, type Ingress, type IngressClass } from '@flotilla/api';

/** The class identity of this controller. */
export interface ClassIdentity {
  /** `--ingress-class`, e.g. `flotilla`. */
  className: string;
  /** `--controller-name`, e.g. `flotilla.dev/ingress`. */
  controllerName: string;
}

/** The legacy class annotation, still honoured by ingress controllers. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** A predicate over Ingresses for the current IngressClasses. */
export function classFilter(id: ClassIdentity, classes: readonly IngressClass[]): (ing: Ingress) => boolean {
  const ours = new Set<string>([id.className]);
  for (const c of classes) if (c.spec?.controller === id.controllerName) ours.add(c.metadata.name!);
  // A class of ours named by the flag but claimed by another controller is not ours.
  const flagClass = classes.find((c) => c.metadata.name === id.className);
  if (flagClass && flagClass.spec?.controller !== id.controllerName) ours.delete(id.className);
  const defaults = classes.filter(isDefaultIngressClass).sort((a, b) => ((a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? 1 : -1));
  const defaultIsOurs = defaults.length > 0 && ours.has(defaults[0]!.metadata.name!);
  return (ing) => {
    const name = ing.spec?.ingressClassName;
    if (name) return ours.has(name);
    const legacy = ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
    if (legacy) return ours.has(legacy);
    return defaultIsOurs;
  };
}
