"""The task backends kb configures beyond the installed ones (settings.TASKS, ``KB_TASK_BACKEND``).

``RQBackend``: django-tasks-rq's, with the task priority kept. Upstream declares no priority
support (``task.using(priority=...)`` is refused) and only a task of the maximum priority goes to
the front of the queue. Here every task above the default priority goes to the front of the rq
queue (``at_front``), now or, for one deferred with ``run_after``, when the scheduler moves it to
the queue: a capture a person asked for is taken before a whole import that was queued earlier.

One rq queue keeps the contract of the documented worker command (``rqworker ... default``): a
worker started as before sees every task. The cost: two captures asked for by people within the
same moment are taken last-first; with one worker free every minute or so that is seconds.
"""

from __future__ import annotations

import django_rq
from django_tasks.base import DEFAULT_TASK_PRIORITY, Task, TaskResult, TaskResultStatus
from django_tasks.signals import task_enqueued
from django_tasks.utils import get_random_id
from django_tasks_rq import RQBackend as UpstreamRQBackend
from django_tasks_rq.backend import Job, failed_callback, success_callback
from rq.job import Callback, JobStatus


class RQBackend(UpstreamRQBackend):
    supports_priority = True

    def enqueue(self, task: Task, args, kwargs) -> TaskResult:
        """Upstream's enqueue, with a task above the default priority put at the queue's front."""
        self.validate_task(task)
        task_result = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        job = queue.create_job(
            task.module_path,
            args=args,
            kwargs=kwargs,
            job_id=task_result.id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(failed_callback),
            on_success=Callback(success_callback),
            meta={"backend_name": self.alias},
        )
        at_front = task.priority > DEFAULT_TASK_PRIORITY
        # Kept with the job: rq's scheduler reads it when a deferred job falls due.
        job.enqueue_at_front = at_front
        if task.run_after is None:
            job = queue.enqueue_job(job, at_front=at_front)
        else:
            job = queue.schedule_job(job, task.run_after)
        object.__setattr__(task_result, "enqueued_at", job.enqueued_at)
        task_enqueued.send(type(self), task_result=task_result)
        return task_result
