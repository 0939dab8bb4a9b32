/**
 * The EndpointSlices one controller manages (the EndpointSlice controller,
 * the mirroring controller), told apart by their managed-by label: found
 * by Service, written from a plan, and put right when someone else changes
 * or deletes one.
 */
import { isReason, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type EndpointSlice } from '@flotilla/api';
import type { Controller, Informer, ResourceClient } from '@flotilla/client';
import type { SlicePlan } from './endpointslice-controller.js';

/** The slices labelled `managed-by: <managedBy>`, by Service. */
export class ManagedSlices {
  private readonly index: string;

  constructor(
    private readonly slices: Informer<EndpointSlice>,
    private readonly api: ResourceClient<EndpointSlice>,
    private readonly managedBy: string,
  ) {
    this.index = `managed-slices/${managedBy}`;
    slices.addIndexer(this.index, (s) => {
      const svc = this.serviceOf(s);
      return svc ? [svc] : [];
    });
  }

  /** Queues the Service (`namespace/name`) of a managed slice someone else changed or deleted. */
  requeueOnChange(controller: Pick<Controller, 'enqueue'>): void {
    const enqueue = (s: EndpointSlice) => {
      const svc = this.serviceOf(s);
      if (svc) controller.enqueue(svc);
    };
    this.slices.addEventHandler({ onUpdate: (_o, s) => enqueue(s), onDelete: enqueue });
  }

  /** The cached managed slices of the Service `key` (`namespace/name`). */
  of(key: string): EndpointSlice[] {
    return this.slices.store.byIndex(this.index, key);
  }

  /** Writes a plan: creations, updates, then deletions; true when anything was written. */
  async apply(plan: SlicePlan): Promise<boolean> {
    for (const s of plan.create) await this.api.create(s);
    for (const s of plan.update) await this.api.update(s);
    for (const s of plan.delete) await this.delete(s);
    return plan.create.length + plan.update.length + plan.delete.length > 0;
  }

  /** Deletes one slice; one already gone is fine. */
  async delete(s: EndpointSlice): Promise<void> {
    try {
      await this.api.delete(s.metadata.namespace, s.metadata.name!);
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
  }

  private serviceOf(s: EndpointSlice): string | undefined {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    return svc && s.metadata.labels?.[MANAGED_BY_LABEL] === this.managedBy ? `${s.metadata.namespace}/${svc}` : undefined;
  }
}
