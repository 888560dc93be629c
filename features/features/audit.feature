Feature: The audit trail of an order
  Every event is hash-chained to the one before it in its stream. An auditor
  can check the chains from the histories alone, and replaying the histories
  gives the state the read models show.

  Background:
    Given AgentOS runs on PostgreSQL with its events relayed through NATS JetStream
    And the CEO holds a token
    And an auditor holds a token

  Scenario: An order's audit trail verifies and replays to the state the API shows
    When the CEO orders "Pay approved invoices up to EUR 400" with a spending limit of EUR 300
    Then the task "payment_run" awaits approval because of the order's spending limit
    When the CEO approves it
    Then the task "payment_run" is dispatched
    When the auditor reads the histories of the order's directive, tasks and approvals
    Then every history is an unbroken hash chain
    And the audit endpoint finds every chain intact
    And the order's story in the event log is exactly its events in those histories
    And the directive replayed from its history is the directive the API shows
    And each task and approval replayed from its history has the status the API shows
    And the directive's history as of version 1 holds only the order as issued
